import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { secretKeySelectorSchema, type SourceFactory, type SourceResponse } from "../source.js";

/**
 * sources.knative.dev/v1alpha1 GitLabSource (eventing-gitlab). Herald receives the project's
 * webhooks itself at the source's `status.webhookUrl` (`/sources/{namespace}/{name}`): add a webhook
 * in the GitLab project pointing there, with the same secret token and the events of `eventTypes`.
 * Registering the webhook through GitLab's API (`accessToken`, `sslverify`) needs an address GitLab
 * can reach and is left to the user; both fields are accepted for that reason.
 *
 * A request must carry `X-Gitlab-Token` equal to `secretToken` (compared in constant time; 401
 * otherwise) and `X-Gitlab-Event`. It becomes the event eventing-gitlab makes: type
 * `dev.knative.sources.gitlabsource.{X-Gitlab-Event}` (for example `…gitlabsource.Push Hook`), source
 * the project's URL (push, tag push, pipeline) or the object's URL (issue, note, merge request, wiki
 * page), else `projectUrl`; the payload as JSON data; id the `X-Gitlab-Event-UUID` GitLab sends, or a
 * new UUID. An event whose kind is not in `eventTypes` is answered 204 and not sent.
 */
const EVENT_HOOKS = {
  push_events: "Push Hook",
  tag_push_events: "Tag Push Hook",
  issues_events: "Issue Hook",
  confidential_issues_events: "Confidential Issue Hook",
  note_events: "Note Hook",
  confidential_note_events: "Confidential Note Hook",
  merge_requests_events: "Merge Request Hook",
  job_events: "Job Hook",
  pipeline_events: "Pipeline Hook",
  wiki_page_events: "Wiki Page Hook",
  deployment_events: "Deployment Hook",
  releases_events: "Release Hook",
} as const;
type EventTypeName = keyof typeof EVENT_HOOKS;

const specSchema = z.object({
  projectUrl: z.url({ error: "must be the project's URL, such as https://gitlab.com/group/project" }),
  eventTypes: z
    .array(
      z.enum(Object.keys(EVENT_HOOKS) as [EventTypeName, ...EventTypeName[]], {
        error: `must be one of ${Object.keys(EVENT_HOOKS).join(", ")}`,
      }),
    )
    .min(1, "must list at least one event type"),
  secretToken: secretKeySelectorSchema,
  accessToken: secretKeySelectorSchema.optional(),
  sslverify: z.boolean().optional(),
  serviceAccountName: z.string().optional(),
});

export const GITLAB_EVENT_TYPE_PREFIX = "dev.knative.sources.gitlabsource";

type Payload = Record<string, unknown>;

function get(payload: unknown, ...path: string[]): unknown {
  let node = payload;
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Payload)[key];
  }
  return node;
}

/** The event's source, as eventing-gitlab picks it for each hook. */
function sourceOf(hook: string, payload: Payload): unknown {
  switch (hook) {
    case "Push Hook":
    case "Tag Push Hook":
    case "Pipeline Hook":
      return get(payload, "project", "http_url") ?? get(payload, "project", "web_url");
    case "Job Hook":
      return get(payload, "repository", "homepage");
    default:
      return get(payload, "object_attributes", "url");
  }
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Compares the webhook's token with the secret in constant time (hashes first: lengths may differ). */
export function verifyGitLabToken(secret: string, token: string | undefined): boolean {
  if (token === undefined) return false;
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(secret), digest(token));
}

const answer = (status: number, body: string): SourceResponse => ({ status, body });

export const gitlabSource: SourceFactory<typeof specSchema> = {
  group: "sources.knative.dev",
  versions: ["v1alpha1"],
  kind: "GitLabSource",
  plural: "gitlabsources",
  shortNames: ["gitlab", "gitlabsource"],
  specSchema,
  ceAttributes: (spec) =>
    spec.eventTypes.map((type) => ({
      type: `${GITLAB_EVENT_TYPE_PREFIX}.${EVENT_HOOKS[type]}`,
      source: spec.projectUrl,
    })),
  start(spec, context) {
    const secret = context.secret(spec.secretToken.secretKeyRef);
    if (spec.accessToken) context.secret(spec.accessToken.secretKeyRef); // a missing Secret is named now
    const wanted = new Set<string>(spec.eventTypes.map((type) => EVENT_HOOKS[type]));
    return Promise.resolve({
      async stop() {},
      async handleRequest(request) {
        if (request.method !== "POST") return answer(405, "GitLab webhooks are POSTed");
        if (!verifyGitLabToken(secret, header(request.headers, "x-gitlab-token")))
          return answer(401, "missing or wrong X-Gitlab-Token");
        const hook = header(request.headers, "x-gitlab-event")?.trim();
        if (!hook) return answer(400, "X-Gitlab-Event header is not set");
        if (!wanted.has(hook)) return answer(204, `event ${hook} is not in spec.eventTypes`);
        let payload: Payload;
        try {
          payload = JSON.parse(request.body.toString("utf8")) as Payload;
        } catch {
          return answer(400, "the payload is not JSON");
        }
        if (payload === null || typeof payload !== "object")
          return answer(400, "the payload is not a JSON object");
        const source = sourceOf(hook, payload);
        const accepted = await context.send({
          attributes: {
            specversion: "1.0",
            id: header(request.headers, "x-gitlab-event-uuid") || randomUUID(),
            type: `${GITLAB_EVENT_TYPE_PREFIX}.${hook}`,
            source: typeof source === "string" && source !== "" ? source : spec.projectUrl,
            datacontenttype: "application/json",
          },
          data: request.body,
        });
        return accepted ? answer(202, "accepted") : answer(502, "the sink refused the event");
      },
    });
  },
};
