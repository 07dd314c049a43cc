/**
 * Starting the open-loop targets' processes: a script (the baselines) or `herald serve` with one
 * channel and one Subscription, each ready once an event reaches the subscriber.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../../test/support/herald.js";
import { EVENT_BODY, EVENT_HEADERS, startScript } from "../support.js";
import type { Target } from "./measure.js";

export async function scriptTarget(source: string, args: string[], delivers: boolean): Promise<Target> {
  const script = await startScript(source, args);
  return {
    url: `http://127.0.0.1:${script.port}/`,
    pid: script.child.pid!,
    delivers,
    stop: () => script.stop(),
  };
}

/**
 * `herald serve` with its defaults (through tsx, as `npm start`), run from `checkout`: this one, or
 * another checkout of Herald to compare two versions in one run.
 */
export async function startHerald(checkout: string, nodeArgs: string[], env: Record<string, string>) {
  const port = await freePort();
  const dataDir = await mkdtemp(join(tmpdir(), "herald-bench-"));
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      "--import",
      "tsx",
      "src/cli/main.ts",
      "serve",
      "--port",
      String(port),
      "--data-dir",
      dataDir,
    ],
    {
      cwd: checkout,
      env: { ...process.env, HERALD_LOG_LEVEL: "error", ...env },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ready = await fetch(`${url}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`Herald in ${checkout} did not start`);
    await sleep(200);
  }
  return {
    url,
    pid: child.pid!,
    apply: async (yaml: string) => {
      const response = await fetch(`${url}/apply`, {
        method: "POST",
        headers: { "content-type": "application/yaml" },
        body: yaml,
      });
      if (response.status !== 200)
        throw new Error(`apply failed (${response.status}): ${await response.text()}`);
    },
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Herald with one channel of `kind` and one Subscription to the subscriber. */
export async function heraldTarget(
  apiVersion: string,
  kind: string,
  subscriber: string,
  checkout: string,
  nodeArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<Target> {
  const herald = await startHerald(checkout, nodeArgs, env);
  // A new name each time: a KafkaChannel's topic and consumer group are named after it.
  const name = `bench-${Date.now().toString(36)}`;
  try {
    await herald.apply(`
apiVersion: ${apiVersion}
kind: ${kind}
metadata: { name: ${name} }
---
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata: { name: ${name} }
spec:
  channel: { apiVersion: ${apiVersion}, kind: ${kind}, name: ${name} }
  subscriber: { uri: "${subscriber}" }
`);
    const url = `${herald.url}/channels/default/${name}`;
    await untilDelivering(url, subscriber, kind);
    return { url, pid: herald.pid, delivers: true, stop: herald.stop };
  } catch (error) {
    await herald.stop();
    throw error;
  }
}

/** Sends single events until one reaches the subscriber: the target is consuming. */
export async function untilDelivering(url: string, subscriber: string, what: string): Promise<void> {
  const before = await count(subscriber);
  const deadline = Date.now() + 60_000;
  while ((await count(subscriber)) === before) {
    if (Date.now() > deadline) throw new Error(`the ${what} delivers nothing`);
    const response = await fetch(url, { method: "POST", headers: EVENT_HEADERS, body: EVENT_BODY });
    await response.body?.cancel();
    await sleep(200);
  }
}

async function count(subscriber: string): Promise<number> {
  return ((await (await fetch(`${subscriber}stats`)).json()) as { count: number }).count;
}
