import { heartbeatsImage } from "./heartbeats.js";
import type { NativeImage } from "./native-image.js";

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
