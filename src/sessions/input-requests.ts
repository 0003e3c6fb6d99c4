import type { Sql } from "postgres";
import type { Logger } from "../infra/log";
import { MAX_EVENT_TEXT_CHARS } from "./events";
import { newId, type SessionService } from "./service";

export const INPUT_KINDS = ["approval", "choice", "text"] as const;
export type InputKind = (typeof INPUT_KINDS)[number];
/** The longest note an approval answer may carry (`{approved, note}`). */
export const MAX_APPROVAL_NOTE_CHARS = 2_000;

/** An approval's answer, read the same way whether it came as a boolean or as `{approved, note?, choice?}`. */
export function approvalOf(value: unknown): { approved: boolean; note?: string; choice?: string } {
  if (typeof value === "boolean") return { approved: value };
  const v = (value ?? {}) as { approved?: unknown; note?: unknown; choice?: unknown };
  return { approved: v.approved === true, ...(typeof v.note === "string" && v.note.trim() ? { note: v.note.trim() } : {}), ...(typeof v.choice === "string" ? { choice: v.choice } : {}) };
}

/** A question no one answers expires after this long unless the agent asks for another deadline. */
export const DEFAULT_INPUT_TIMEOUT_MS = 24 * 60 * 60_000;

export interface InputRequest {
  id: string;
  sessionId: string;
  runId: string;
  kind: InputKind;
  prompt: string;
  schema: Record<string, unknown> | undefined;
  status: "pending" | "answered" | "expired" | "cancelled";
  value: unknown;
}

export type RespondResult =
  | { ok: true; offset: string; runId: string }
  | { ok: false; code: "request_not_found" | "request_closed" | "invalid_value" | "session_closed" | "session_not_found"; message: string };

interface RequestRow {
  id: string;
  sessionId: string;
  runId: string;
  kind: InputKind;
  prompt: string;
  schema: string | null;
  status: InputRequest["status"];
  value: string | null;
}

/**
 * Questions runs ask people (approve, choose, type), answered by `control {action:"respond"}` from
 * any client of the session. A run that asked is suspended: its job is finished and no worker holds
 * it; an answer, the deadline, or a cancel queues it again, on whichever process takes the job.
 */
export class InputRequests {
  #sql: Sql;
  #sessions: SessionService;
  #log: Logger;

  constructor(options: { sql: Sql; sessions: SessionService; log: Logger }) {
    this.#sql = options.sql;
    this.#sessions = options.sessions;
    this.#log = options.log;
  }

  /** Records a question of a run and appends its `input.request` event. Returns the request id. */
  async ask(input: { sessionId: string; runId: string; kind: InputKind; prompt: string; schema?: Record<string, unknown>; timeoutMs?: number; emit: (event: { type: "input.request"; requestId: string; runId: string; kind: InputKind; prompt: string; schema?: Record<string, unknown> }) => Promise<void> }): Promise<string> {
    const requestId = newId("req");
    const timeoutMs = input.timeoutMs ?? DEFAULT_INPUT_TIMEOUT_MS;
    await this.#sql`
      insert into input_requests (id, session_id, run_id, kind, prompt, schema, deadline_at)
      values (${requestId}, ${input.sessionId}, ${input.runId}, ${input.kind}, ${input.prompt}, ${input.schema ? JSON.stringify(input.schema) : null}, now() + make_interval(secs => ${timeoutMs / 1000}))`;
    await input.emit({ type: "input.request", requestId, runId: input.runId, kind: input.kind, prompt: input.prompt, ...(input.schema ? { schema: input.schema } : {}) });
    return requestId;
  }

  async get(requestId: string): Promise<InputRequest | undefined> {
    const [row] = await this.#sql<RequestRow[]>`
      select id, session_id as "sessionId", run_id as "runId", kind, prompt, schema, status, value from input_requests where id = ${requestId}`;
    return row ? toRequest(row) : undefined;
  }

  /**
   * Answers a pending request: checks the value against its kind, appends the `control` respond event,
   * and queues the suspended run. The first answer wins; a rejected answer stores nothing.
   */
  async respond(input: { sessionId: string; requestId: string; value: unknown; clientId?: string; dedupeKey?: string }): Promise<RespondResult> {
    const request = await this.get(input.requestId);
    if (!request || request.sessionId !== input.sessionId) return { ok: false, code: "request_not_found", message: `No input request ${input.requestId} in this session.` };
    if (request.status !== "pending") return { ok: false, code: "request_closed", message: `Input request ${input.requestId} is ${request.status}; it takes no more answers.` };
    const problem = checkValue(request, input.value);
    if (problem) return { ok: false, code: "invalid_value", message: problem };
    const [claimed] = await this.#sql`
      update input_requests set status = 'answered', value = ${JSON.stringify(input.value)}, answered_by = ${input.clientId ?? null}, answered_at = now()
      where id = ${input.requestId} and status = 'pending' returning id`;
    if (!claimed) return { ok: false, code: "request_closed", message: `Input request ${input.requestId} was answered (or expired) just now; it takes no more answers.` };
    const appended = await this.#sessions.append(
      input.sessionId,
      { type: "control", action: "respond", requestId: input.requestId, value: input.value, runId: request.runId, ...(input.clientId ? { clientId: input.clientId } : {}) },
      input.dedupeKey,
    );
    if (!appended.ok) return { ok: false, code: appended.code, message: appended.code === "session_closed" ? "This session is closed." : "No such session." };
    await this.#sessions.wake(request.runId);
    return { ok: true, offset: appended.offset, runId: request.runId };
  }

  /** Expires unanswered requests past their deadline and wakes their runs (the runtime's reaper calls this). */
  async expireDue(): Promise<void> {
    const expired = await this.#sql<{ runId: string }[]>`
      update input_requests set status = 'expired' where status = 'pending' and deadline_at < now() returning run_id as "runId"`;
    for (const { runId } of expired) {
      this.#log.info("input request expired", { runId });
      await this.#sessions.wake(runId);
    }
  }

  /** Closes a run's pending requests (it ended: cancelled, failed). */
  async cancelFor(runId: string): Promise<void> {
    await this.#sql`update input_requests set status = 'cancelled' where run_id = ${runId} and status = 'pending'`;
  }
}

function toRequest(row: RequestRow): InputRequest {
  return { ...row, schema: row.schema ? JSON.parse(row.schema) : undefined, value: row.value === null ? undefined : JSON.parse(row.value) };
}

/** What is wrong with an answer for this request, if anything. */
function checkValue(request: InputRequest, value: unknown): string | undefined {
  switch (request.kind) {
    case "approval": {
      if (typeof value === "boolean") return undefined;
      const problem = "An approval is answered with true (approve), false (decline), or {approved, note?, choice?}.";
      if (!value || typeof value !== "object" || Array.isArray(value)) return problem;
      const { approved, note, choice, ...rest } = value as Record<string, unknown>;
      if (typeof approved !== "boolean" || Object.keys(rest).length > 0) return problem;
      if (note !== undefined && (typeof note !== "string" || note.length > MAX_APPROVAL_NOTE_CHARS)) return `An approval's note is a string of at most ${MAX_APPROVAL_NOTE_CHARS} characters.`;
      if (choice === undefined) return undefined;
      const choices = (request.schema as { choices?: unknown[] } | undefined)?.choices;
      return Array.isArray(choices) && choices.some((c) => c === choice) ? undefined : Array.isArray(choices) ? `An approval's choice is one of ${choices.map((c) => JSON.stringify(c)).join(", ")}.` : "This approval offers no choices.";
    }
    case "text":
      return typeof value === "string" && value.length <= MAX_EVENT_TEXT_CHARS ? undefined : `A text request is answered with a string of at most ${MAX_EVENT_TEXT_CHARS} characters.`;
    case "choice": {
      const options = (request.schema as { enum?: unknown[] } | undefined)?.enum;
      if (!Array.isArray(options)) return typeof value === "string" ? undefined : "A choice is answered with a string.";
      return options.some((option) => option === value) ? undefined : `Choose one of ${options.map((o) => JSON.stringify(o)).join(", ")}.`;
    }
  }
}
