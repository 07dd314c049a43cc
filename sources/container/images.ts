import type { SourceContext, SourceWorker } from "../source.js";
import type { ArgProblem } from "./go-flags.js";
import { heartbeatsImage } from "./heartbeats.js";

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

/** The images Herald runs natively. */
export const nativeImages: readonly NativeImage[] = [heartbeatsImage];

/**
 * The image's repository path, as a registry names it: without `ko://` (ko's build reference), a
 * `@sha256:...` digest or a `:tag`.
 */
export function repositoryOf(image: string): string {
  const reference = image.startsWith("ko://") ? image.slice("ko://".length) : image;
  const withoutDigest = reference.split("@")[0]!;
  const tag = withoutDigest.lastIndexOf(":");
  // A colon before the last slash is a registry's port (localhost:5000/...), not a tag.
  return tag > withoutDigest.lastIndexOf("/") ? withoutDigest.slice(0, tag) : withoutDigest;
}

/**
 * The native image an image reference names: one of its paths, under any registry prefix
 * (`gcr.io/knative-releases/`, `ko://`...), with any tag or digest.
 */
export function nativeImageOf(image: string): NativeImage | undefined {
  const repository = repositoryOf(image);
  return nativeImages.find((native) =>
    native.paths.some((path) => repository === path || repository.endsWith(`/${path}`)),
  );
}

/** The native images, for messages: `Knative's heartbeats (knative.dev/eventing/cmd/heartbeats)`. */
export function nativeImagesList(): string {
  return nativeImages.map((native) => `${native.name} (${native.paths[0]})`).join(", ");
}
