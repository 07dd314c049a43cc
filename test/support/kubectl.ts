import { spawn } from "node:child_process";
import type { RunningService, TestService } from "./services.js";

/**
 * The kubectl command, for tests that drive Herald's resource API with the real Kubernetes client.
 * When `kubectl` is not on PATH it is installed from Debian's `kubernetes-client` package
 * (`apt-get update`, then `apt-get install -y kubernetes-client`); a failed install fails the run
 * with apt's output. KUBECTL names another binary.
 */
export const KUBECTL = process.env.KUBECTL ?? "kubectl";

interface Run {
  readonly code: number | null;
  readonly output: string;
}

function run(command: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", (error) => resolve({ code: null, output: `${output}${error.message}` }));
    child.on("close", (code) => resolve({ code, output }));
  });
}

async function isInstalled(): Promise<boolean> {
  return (await run(KUBECTL, ["version", "--client"])).code === 0;
}

export const kubectlService: TestService = {
  name: "kubectl",
  async start(): Promise<RunningService> {
    const env = { KUBECTL };
    if (await isInstalled()) return { env, stop: async () => {} };
    for (const args of [["update"], ["install", "-y", "kubernetes-client"]]) {
      const { code, output } = await run("apt-get", args);
      if (code !== 0)
        throw new Error(
          `kubectl is not on PATH and \`apt-get ${args.join(" ")}\` failed (exit ${code}): ${output.slice(-2000)}`,
        );
    }
    if (!(await isInstalled()))
      throw new Error("kubernetes-client was installed but `kubectl version --client` still fails");
    return { env, stop: async () => {} };
  },
};
