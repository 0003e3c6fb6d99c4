import { encodeJsonValues } from "./store";
import type { AppendInput, ProducerHeaders } from "./writer";

const EMPTY_BODY = new Uint8Array(0);

/**
 * The one way server-side code builds an append of JSON values to a JSON-mode stream (session
 * events, run output, subscription callbacks): the values serialised once, as the writer stores them.
 *
 * @example
 * await writer.append(jsonAppend(sessionStreamPath(id), [event], { dedupeKey: `event:${event.id}` }));
 */
export function jsonAppend(path: string, values: unknown[], options: { producer?: ProducerHeaders; dedupeKey?: string; fences?: AppendInput["fences"] } = {}): AppendInput {
  return {
    path,
    contentType: "application/json",
    body: EMPTY_BODY,
    json: { data: encodeJsonValues(values), count: values.length },
    close: false,
    ...(options.producer ? { producer: options.producer } : {}),
    ...(options.dedupeKey !== undefined ? { dedupeKey: options.dedupeKey } : {}),
    ...(options.fences && options.fences.producerIds.length > 0 ? { fences: options.fences } : {}),
  };
}
