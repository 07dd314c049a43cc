import jsonata from "jsonata";
import type { Logger } from "pino";
import type { Sender } from "../dispatcher/sender.js";
import { HeraldError } from "../errors.js";
import type { CloudEvent } from "../events/event.js";
import { fromStructuredJson, parseHttpReply, toStructuredJson } from "../events/http.js";
import type { Resource } from "../resources/common.js";
import type { EventTransformSpec } from "../resources/event-transform.js";
import { coreKinds } from "../resources/kinds.js";
import { ConditionSet, type ConditionInput } from "../control/conditions.js";
import {
  destinationCACerts,
  resolveDestination,
  UnresolvableDestination,
  type References,
} from "../control/destinations.js";
import type { StatusWriter } from "../control/status.js";
import type { SinkAnswer, SinkEndpoints } from "./endpoints.js";

export type EventTransformResource = Resource<"EventTransform", EventTransformSpec>;

/** eventing.knative.dev EventTransform (Knative's TransformCondSet). */
export const transformConditions = new ConditionSet("TransformationReady", "Addressable");

type Expression = ReturnType<typeof jsonata>;

/** A compiled transform, kept while the resource's generation and its sink's address stay the same. */
interface RunningTransform {
  readonly key: string;
  readonly uid: string;
  readonly generation: number;
  readonly sinkUrl: string | undefined;
}

export interface SinkReconcilerDeps extends References {
  readonly status: StatusWriter;
  readonly endpoints: SinkEndpoints;
  readonly sender: Sender;
  readonly logger: Logger;
  /** Herald's public base URL, known once it listens. */
  baseUrl(): string;
}

/** Knative's JSONata transformer: the input is the event in the JSON event format, the output too. */
async function transform(expression: Expression, event: CloudEvent): Promise<CloudEvent> {
  const result: unknown = await expression.evaluate(toStructuredJson(event));
  try {
    return fromStructuredJson(JSON.parse(JSON.stringify(result ?? null)));
  } catch (error) {
    const reason = error instanceof HeraldError ? error.message : String(error);
    throw new Error(`the transformation's result is not a CloudEvent: ${reason}`, { cause: error });
  }
}

/**
 * eventing.knative.dev EventTransform with a JSONata transformation, run in Herald instead of a
 * Deployment: addressable at `/sinks/eventtransforms/{namespace}/{name}`, it answers each event with
 * the transformed one (no `sink`), or sends that to `sink` and answers with the sink's status and
 * reply, transformed by `reply.jsonata` or left out with `reply.discard`, as Knative's transformer does.
 */
export class EventTransformReconciler {
  private readonly running = new Map<string, RunningTransform>();
  private static readonly PLURAL = coreKinds.eventTransform.plural;

  constructor(private readonly deps: SinkReconcilerDeps) {}

  reconcile(): void {
    const { store, status, endpoints } = this.deps;
    const plural = EventTransformReconciler.PLURAL;
    const seen = new Set<string>();
    for (const resource of store.list(coreKinds.eventTransform)) {
      const { namespace, name } = resource.metadata;
      const key = `${namespace}/${name}`;
      seen.add(key);
      const url = `${this.deps.baseUrl()}/sinks/${plural}/${namespace}/${name}`;
      const outcome = this.run(resource, key);
      status.set(resource, {
        ...(outcome.sinkUrl ? { sinkUri: outcome.sinkUrl } : {}),
        ...(outcome.ready.status === "True"
          ? {
              address: endpoints.address(plural, namespace, name, url),
              addresses: [endpoints.address(plural, namespace, name, url)],
            }
          : {}),
        conditions: status.conditions(resource, [
          outcome.ready,
          outcome.ready.status === "True"
            ? transformConditions.markTrue("Addressable")
            : transformConditions.markFalse("Addressable", "TransformationNotReady"),
        ]),
      });
    }
    for (const key of endpoints.names(plural)) {
      if (seen.has(key)) continue;
      const [namespace, name] = key.split("/") as [string, string];
      endpoints.delete(plural, namespace, name);
      this.running.delete(key);
    }
  }

  /** Compiles and installs the handler when the spec or the sink's address changed. */
  private run(
    resource: EventTransformResource,
    key: string,
  ): { ready: ConditionInput; sinkUrl?: string | undefined } {
    const { spec } = resource;
    const { namespace, name, uid, generation } = resource.metadata;
    let sinkUrl: string | undefined;
    if (spec.sink) {
      try {
        sinkUrl = resolveDestination(this.deps, spec.sink, namespace);
      } catch (error) {
        if (!(error instanceof UnresolvableDestination)) throw error;
        this.stop(key);
        return {
          ready: transformConditions.markFalse("TransformationReady", "SinkNotResolved", error.message),
        };
      }
    }
    const current = this.running.get(key);
    if (current && current.uid === uid && current.generation === generation && current.sinkUrl === sinkUrl)
      return { ready: transformConditions.markTrue("TransformationReady"), sinkUrl };
    let request: Expression;
    let reply: Expression | undefined;
    try {
      request = compile(spec.jsonata!.expression, "spec.jsonata.expression");
      reply = spec.reply?.jsonata && compile(spec.reply.jsonata.expression, "spec.reply.jsonata.expression");
    } catch (error) {
      this.stop(key);
      return {
        ready: transformConditions.markFalse(
          "TransformationReady",
          "JsonataExpressionInvalid",
          (error as Error).message,
        ),
      };
    }
    const caCerts = destinationCACerts(spec.sink);
    const discard = spec.reply?.discard === true;
    this.deps.endpoints.set(EventTransformReconciler.PLURAL, namespace, name, (event) =>
      this.handle(key, event, { request, reply, sinkUrl, caCerts, discard }),
    );
    this.running.set(key, { key, uid, generation, sinkUrl });
    return { ready: transformConditions.markTrue("TransformationReady"), sinkUrl };
  }

  private stop(key: string): void {
    const [namespace, name] = key.split("/") as [string, string];
    this.deps.endpoints.delete(EventTransformReconciler.PLURAL, namespace, name);
    this.running.delete(key);
  }

  private async handle(
    key: string,
    event: CloudEvent,
    plan: {
      request: Expression;
      reply: Expression | undefined;
      sinkUrl: string | undefined;
      caCerts: string | undefined;
      discard: boolean;
    },
  ): Promise<SinkAnswer> {
    let transformed: CloudEvent;
    try {
      transformed = await transform(plan.request, event);
    } catch (error) {
      this.deps.logger.warn({ transform: key, err: error }, "transforming an event failed");
      return { status: 500, message: (error as Error).message };
    }
    if (!plan.sinkUrl) return { status: 200, event: transformed };
    const sent = await this.deps.sender.send(plan.sinkUrl, transformed, { caCerts: plan.caCerts });
    if (!sent.ok)
      return {
        status: sent.status ?? 502,
        message: `the sink ${plan.sinkUrl} did not take the event: ${sent.error ?? `status ${sent.status}`}`,
      };
    if (plan.discard) return { status: sent.status };
    let answer: CloudEvent | undefined;
    try {
      answer = parseHttpReply(sent.status, sent.headers, sent.body);
    } catch (error) {
      return { status: 502, message: `the sink's reply is not a CloudEvent: ${(error as Error).message}` };
    }
    if (!answer || !plan.reply) return { status: sent.status, event: answer };
    try {
      return { status: sent.status, event: await transform(plan.reply, answer) };
    } catch (error) {
      return { status: 500, message: `transforming the sink's reply failed: ${(error as Error).message}` };
    }
  }
}

function compile(expression: string, field: string): Expression {
  try {
    return jsonata(expression);
  } catch (error) {
    const { message, position } = error as { message?: string; position?: number };
    throw new Error(
      `${field} is not a JSONata expression: ${message ?? String(error)}${position === undefined ? "" : ` (at character ${position})`}`,
      { cause: error },
    );
  }
}
