import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import type { AttributeValue } from "../../src/events/event.js";
import { secretKeySelectorSchema, type SourceFactory, type SourceResponse } from "../source.js";

/**
 * sources.knative.dev/v1alpha1 GitHubSource. Herald receives the repository's webhooks itself at the
 * source's `status.webhookUrl` (`/sources/{namespace}/{name}`); point the GitHub webhook there with
 * the same secret. Registering the webhook through GitHub's API (`accessToken`) needs a public
 * address and is left to the user.
 *
 * Each delivery is checked against `X-Hub-Signature-256` (HMAC-SHA256 of the body with
 * `secretToken`; 401 when missing or wrong) and becomes a CloudEvent as Knative's GitHub source
 * makes it: type `dev.knative.source.github.{X-GitHub-Event}`, id `X-GitHub-Delivery`, source
 * `https://github.com/{ownerAndRepository}`, the payload as JSON data, and the subject and
 * extensions (owner, repository, sender, action...) of the event kind.
 *
 * Replays: GitHub's signature covers the body only, not the headers, so the delivery id (the event's
 * id) and the event name are not authenticated: whoever saw one signed delivery can send its body
 * again under any id. The source therefore keeps a record of the deliveries it passed on, by
 * delivery id and by body hash, for REPLAY_WINDOW_MS and at most REPLAY_RECORD_SIZE deliveries
 * (oldest first out), and refuses a repeat of either with 409. A delivery the sink did not take is
 * not recorded, so GitHub's redelivery of it goes through. The record lives in memory: it starts
 * empty when the source (or Herald) starts again.
 */
const specSchema = z.object({
  ownerAndRepository: z
    .string({ error: "is required" })
    .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)?$/, "must be owner/repository or an organisation name"),
  eventTypes: z
    .array(z.string().regex(/^[a-z_]+$/, "must be a GitHub event name such as push"))
    .min(1, "must list at least one event type"),
  secretToken: secretKeySelectorSchema,
  accessToken: secretKeySelectorSchema.optional(),
  githubAPIURL: z.url().optional(),
  serviceAccountName: z.string().optional(),
});

export const GITHUB_EVENT_TYPE_PREFIX = "dev.knative.source.github";

/** How long a delivery id and a body stay in a source's record of deliveries passed on. */
export const REPLAY_WINDOW_MS = 24 * 60 * 60 * 1000;
/** The most deliveries a source's record holds; the oldest leave first. */
export const REPLAY_RECORD_SIZE = 10_000;

/**
 * The deliveries a source passed on, by `id:{delivery}` and `body:{sha256}`: bounded and
 * time-boxed. Every entry lives as long, so insertion order is expiry order.
 */
class DeliveryRecord {
  private readonly entries = new Map<string, { readonly delivery: string; readonly expires: number }>();

  /** The earlier delivery with this id or body, if one is on record. */
  find(delivery: string, bodyHash: string): { key: "id" | "body"; delivery: string } | undefined {
    this.prune();
    const byId = this.entries.get(`id:${delivery}`);
    if (byId) return { key: "id", delivery: byId.delivery };
    const byBody = this.entries.get(`body:${bodyHash}`);
    return byBody && { key: "body", delivery: byBody.delivery };
  }

  add(delivery: string, bodyHash: string): void {
    const entry = { delivery, expires: performance.now() + REPLAY_WINDOW_MS };
    this.entries.set(`id:${delivery}`, entry);
    this.entries.set(`body:${bodyHash}`, entry);
    this.prune();
  }

  remove(delivery: string, bodyHash: string): void {
    this.entries.delete(`id:${delivery}`);
    this.entries.delete(`body:${bodyHash}`);
  }

  private prune(): void {
    const now = performance.now();
    for (const [key, entry] of this.entries) {
      if (entry.expires > now && this.entries.size <= 2 * REPLAY_RECORD_SIZE) break;
      this.entries.delete(key);
    }
  }
}

type Payload = Record<string, unknown>;

function get(payload: unknown, ...path: string[]): unknown {
  let node = payload;
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Payload)[key];
  }
  return node;
}

function lastPathPortion(url: unknown): string {
  return typeof url === "string" ? (url.split("/").pop() ?? "") : "";
}

/** The subject of each GitHub event kind, as Knative's GitHub source chooses it. */
const subjects: Record<string, (p: Payload) => unknown> = {
  check_run: (p) => get(p, "check_run", "id"),
  check_suite: (p) => get(p, "check_suite", "id"),
  commit_comment: (p) => lastPathPortion(get(p, "comment", "html_url")),
  create: (p) => get(p, "ref_type"),
  delete: (p) => get(p, "ref_type"),
  deployment: (p) => get(p, "deployment", "id"),
  deployment_status: (p) => get(p, "deployment", "id"),
  fork: (p) => get(p, "forkee", "id"),
  gollum: (p) =>
    ((get(p, "pages") as { page_name?: string }[] | undefined) ?? []).map((page) => page.page_name).join(","),
  installation: (p) => get(p, "installation", "id"),
  installation_repositories: (p) => get(p, "installation", "id"),
  issue_comment: (p) => lastPathPortion(get(p, "comment", "html_url")),
  issues: (p) => get(p, "issue", "number"),
  label: (p) => get(p, "label", "name"),
  member: (p) => get(p, "member", "id"),
  membership: (p) => get(p, "member", "id"),
  milestone: (p) => get(p, "milestone", "number"),
  organization: (p) => get(p, "action"),
  org_block: (p) => get(p, "action"),
  page_build: (p) => get(p, "id"),
  ping: (p) => get(p, "hook_id"),
  project_card: (p) => get(p, "action"),
  project_column: (p) => get(p, "action"),
  project: (p) => get(p, "action"),
  public: (p) => get(p, "repository", "id"),
  pull_request: (p) => get(p, "pull_request", "number"),
  pull_request_review_comment: (p) => get(p, "comment", "id"),
  pull_request_review: (p) => get(p, "review", "id"),
  push: (p) => lastPathPortion(get(p, "compare")),
  release: (p) => get(p, "release", "tag_name"),
  repository: (p) => get(p, "repository", "id"),
  repository_vulnerability_alert: (p) => get(p, "alert", "id"),
  security_advisory: (p) => get(p, "security_advisory", "ghsa_id"),
  status: (p) => get(p, "sha"),
  team: (p) => get(p, "team", "id"),
  team_add: (p) => get(p, "repository", "id"),
  watch: (p) => get(p, "repository", "id"),
};

/** Extensions Knative's GitHub source adds, when the payload has them. */
function extensionsOf(event: string, p: Payload): Record<string, AttributeValue> {
  const candidates: Record<string, unknown> = {
    owner: get(p, "repository", "owner", "login") ?? get(p, "organization", "login"),
    repository: get(p, "repository", "name"),
    sender: get(p, "sender", "login"),
    action: get(p, "action"),
  };
  if (event === "push") {
    Object.assign(candidates, {
      pusher: get(p, "pusher", "name"),
      ref: get(p, "ref"),
      created: get(p, "created"),
      deleted: get(p, "deleted"),
      forced: get(p, "forced"),
    });
  }
  if (event === "create" || event === "delete") candidates.ref = get(p, "ref");
  if (event === "pull_request") candidates.number = get(p, "number");
  if (event === "release") candidates.release = get(p, "release", "name");
  const extensions: Record<string, AttributeValue> = {};
  for (const [name, value] of Object.entries(candidates)) {
    if (typeof value === "string" || typeof value === "boolean") extensions[name] = value;
    else if (typeof value === "number" && Number.isInteger(value)) extensions[name] = value;
  }
  return extensions;
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Verifies GitHub's HMAC-SHA256 signature header (`sha256=` + hex) in constant time. */
export function verifyGitHubSignature(secret: string, body: Buffer, signature: string | undefined): boolean {
  if (!signature?.startsWith("sha256=")) return false;
  const expected = Buffer.from(createHmac("sha256", secret).update(body).digest("hex"));
  const given = Buffer.from(signature.slice("sha256=".length));
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const answer = (status: number, body: string): SourceResponse => ({ status, body });

export const githubSource: SourceFactory<typeof specSchema> = {
  group: "sources.knative.dev",
  versions: ["v1alpha1"],
  kind: "GitHubSource",
  plural: "githubsources",
  shortNames: ["github", "githubsource"],
  specSchema,
  ceAttributes: (spec) =>
    spec.eventTypes.map((type) => ({
      type: `${GITHUB_EVENT_TYPE_PREFIX}.${type}`,
      source: `https://github.com/${spec.ownerAndRepository}`,
    })),
  async start(spec, context) {
    const secret = context.secret(spec.secretToken.secretKeyRef);
    const wanted = new Set(spec.eventTypes);
    const source = `https://github.com/${spec.ownerAndRepository}`;
    const passedOn = new DeliveryRecord();
    return {
      async stop() {},
      async handleRequest(request) {
        if (request.method !== "POST") return answer(405, "GitHub webhooks are POSTed");
        if (!verifyGitHubSignature(secret, request.body, header(request.headers, "x-hub-signature-256"))) {
          return answer(401, "missing or invalid X-Hub-Signature-256");
        }
        const event = header(request.headers, "x-github-event");
        const delivery = header(request.headers, "x-github-delivery");
        if (!event) return answer(400, "X-GitHub-Event header is not set");
        if (!delivery) return answer(400, "X-GitHub-Delivery header is not set");
        const bodyHash = createHash("sha256").update(request.body).digest("hex");
        const earlier = passedOn.find(delivery, bodyHash);
        if (earlier) {
          return answer(
            409,
            earlier.key === "id"
              ? `delivery ${delivery} was already received`
              : `this payload was already received as delivery ${earlier.delivery}`,
          );
        }
        // GitHub pings a new webhook; answer it even when ping is not a wanted event type.
        if (!wanted.has(event))
          return answer(event === "ping" ? 200 : 204, `event ${event} is not in spec.eventTypes`);
        let payload: Payload;
        try {
          payload = JSON.parse(request.body.toString("utf8")) as Payload;
        } catch {
          return answer(400, "the payload is not JSON");
        }
        const subject = subjects[event]?.(payload);
        if ((typeof subject !== "string" && typeof subject !== "number") || subject === "") {
          return answer(400, `unsupported GitHub event type ${event}`);
        }
        // Recorded before the send, so that a repeat arriving meanwhile is refused too.
        passedOn.add(delivery, bodyHash);
        let accepted = false;
        try {
          accepted = await context.send({
            attributes: {
              specversion: "1.0",
              id: delivery,
              type: `${GITHUB_EVENT_TYPE_PREFIX}.${event}`,
              source,
              subject: String(subject),
              datacontenttype: "application/json",
              ...extensionsOf(event, payload),
            },
            data: request.body,
          });
        } finally {
          if (!accepted) passedOn.remove(delivery, bodyHash);
        }
        return accepted ? answer(202, "accepted") : answer(502, "the sink refused the event");
      },
    };
  },
};
