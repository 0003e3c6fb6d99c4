import { can, canAccessSession, type Principal } from "../accounts/principal";
import type { SessionEvent } from "./events";
import { newId, type SessionRecord, type SessionService } from "./service";

type ControlEvent = Extract<SessionEvent, { type: "control" }>;
type MessageEvent = Extract<SessionEvent, { type: "message" }>;

/** Why a principal may not do something in a session (HTTP 403, WebSocket error frame). */
export interface Refusal {
  ok: false;
  code: "forbidden" | "forbidden_role";
  message: string;
}

/**
 * The control event `principal` may append, or why not. People, API tokens and the bootstrap token
 * control any run of their sessions. A client token needs `control-all` for that; with only
 * `control-own` it may name a run its own client started, and a cancel/interrupt/steer that names
 * no run is narrowed to scope `own` (least privilege: "cancel" from a browser never means "cancel
 * everyone's runs").
 *
 * @example
 * const allowed = await authorizeControl(principal, event, (runId) => service.runClient(sessionId, runId));
 * if (!allowed.ok) throw new ApiError(403, allowed.code, allowed.message);
 */
export async function authorizeControl(
  principal: Principal,
  event: ControlEvent,
  runClient: (runId: string) => Promise<string | null | undefined>,
): Promise<{ ok: true; event: ControlEvent } | Refusal> {
  if (principal.kind !== "client" || can(principal, "control-all")) return { ok: true, event };
  if (!can(principal, "control-own")) return { ok: false, code: "forbidden", message: "This client token may not control runs (it has neither control-own nor control-all)." };
  if (event.runId) {
    if ((await runClient(event.runId)) !== principal.clientId) {
      return { ok: false, code: "forbidden", message: `This client token may control only the runs its client started (control-own); ${event.runId} is not one of them.` };
    }
    return { ok: true, event };
  }
  if (event.scope === "all" || event.scope === "run") return { ok: false, code: "forbidden", message: `scope ${event.scope} needs the control-all capability; this token may control its own runs (scope own).` };
  return { ok: true, event: { ...event, scope: "own" } };
}

/**
 * The user message `principal` may append, or why not. A client token needs `publish`, writes only
 * `role: "user"`, under its own client id, and its message ids live in its client's namespace
 * (`<clientId>:<id>`), so they can never name an agent's or another client's message; a retry with
 * the same id is the same message.
 */
export function authorizeMessage(principal: Principal, message: { id?: string; role?: MessageEvent["role"]; text: string; clientId?: string }): { ok: true; event: MessageEvent } | Refusal {
  const given = message.id ?? newId("msg");
  if (principal.kind !== "client") {
    return { ok: true, event: { type: "message", id: given, role: message.role ?? "user", text: message.text, ...(message.clientId ? { clientId: message.clientId } : {}) } };
  }
  if (!can(principal, "publish")) return { ok: false, code: "forbidden", message: "This client token may not publish messages (no publish capability)." };
  if (message.role !== undefined && message.role !== "user") return { ok: false, code: "forbidden_role", message: `Clients publish messages with role user; ${message.role} messages are written by agents and backends.` };
  return { ok: true, event: { type: "message", id: clientMessageId(principal.clientId, given), role: "user", text: message.text, clientId: principal.clientId } };
}

/** A client's message id: `<clientId>:<id>` (an id already in the client's namespace is kept). */
export function clientMessageId(clientId: string, id: string): string {
  return id.startsWith(`${clientId}:`) ? id : `${clientId}:${id}`;
}

/**
 * The session gate past the team scope: a client token is held to its session's conversation (the
 * session it was issued for and the branches of its tree); everyone else to `canAccessSession`.
 */
export async function mayUseSession(service: Pick<SessionService, "sameConversation">, principal: Principal, session: SessionRecord): Promise<boolean> {
  if (!canAccessSession(principal, session)) return principal.kind === "client" && principal.teamId === session.teamId && (await service.sameConversation(principal.sessionId, session));
  return true;
}
