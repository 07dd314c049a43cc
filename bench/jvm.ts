/**
 * The JVM baselines' plumbing: the classpath of a tool's pom under bench/jvm/ resolved from Maven
 * Central on first use (`mvn dependency:build-classpath`, the jars cached in the local Maven
 * repository, the classpath in .bench/), and the tool run with the machine's `java`.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const JVM = fileURLToPath(new URL("./jvm/", import.meta.url));
const CACHE = fileURLToPath(new URL("../.bench/", import.meta.url));

/** The classpath of bench/jvm/<tool>.pom.xml, resolved once (Maven fetches the jars the first time). */
export function toolClasspath(tool: "kafka-tools" | "perf-test"): string {
  const pom = `${JVM}${tool}.pom.xml`;
  const cached = `${CACHE}${tool}.classpath`;
  // Resolved again when the pom changes (a version bump); cheap when the jars are already local.
  const digest = createHash("sha256").update(readFileSync(pom)).digest("hex").slice(0, 12);
  const stamp = `${cached}.${digest}`;
  if (!existsSync(stamp)) {
    mkdirSync(CACHE, { recursive: true });
    const result = spawnSync(
      "mvn",
      [
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        pom,
        "dependency:build-classpath",
        `-Dmdep.outputFile=${stamp}`,
      ],
      { stdio: ["ignore", 2, 2] },
    );
    if (result.error) throw new Error(`running Maven for ${tool}: ${result.error.message}`);
    if (result.status !== 0) throw new Error(`resolving ${tool} with Maven failed (exit ${result.status})`);
  }
  return readFileSync(stamp, "utf8").trim();
}

export interface JavaRun {
  /** The command as a person would type it (classpath elided). */
  command: string;
  stdout: string;
  seconds: number;
}

/**
 * Runs `java -cp <classpath> <main> <args>` and resolves with its output once it exits 0; rejects
 * with the end of its output otherwise, or after `timeoutSeconds` (the JVM is killed).
 */
export async function runJava(
  tool: "kafka-tools" | "perf-test",
  main: string,
  args: string[],
  timeoutSeconds: number,
): Promise<JavaRun> {
  const classpath = toolClasspath(tool);
  const command = `java -cp <${tool} classpath> ${main} ${args.join(" ")}`;
  const started = performance.now();
  const child = spawn("java", ["-Xmx512m", "-cp", classpath, main, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutSeconds * 1000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", resolve);
  }).finally(() => clearTimeout(timer));
  if (code !== 0)
    throw new Error(`${command} exited with ${code}: ${(stderr || stdout).slice(-2000).trim()}`);
  return { command, stdout, seconds: Math.round((performance.now() - started) / 100) / 10 };
}
