import type { SourceContext, SourceWorker } from "../source.js";
import type { ArgProblem } from "./go-flags.js";

/** A container whose image Herald runs natively: its args and its environment, resolved. */
export interface NativeContainer {
  readonly args: readonly string[];
  /** `env` by name, Secrets' values included (the last of a repeated name wins). */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * An image Herald runs inside itself instead of pulling it: the same flags, environment and events
 * as the image's own program, with no process started, so it needs no `--allow-process-sources`.
 */
export interface NativeImage {
  /** How messages name it. */
  readonly name: string;
  /** The image's repository paths, without registry, tag or digest. */
  readonly paths: readonly string[];
  /** The first arg the image would refuse, if any; checked at apply. */
  argsProblem(args: readonly string[]): ArgProblem | undefined;
  /** The event types and source it sends, for `status.ceAttributes`. */
  ceAttributes(
    container: NativeContainer,
    resource: SourceContext["resource"],
  ): { type: string; source: string }[];
  start(container: NativeContainer, context: SourceContext): Promise<SourceWorker>;
}
