import type { Sql } from "postgres";
import type { Listener } from "../infra/listener";
import type { Logger } from "../infra/log";
import { newId } from "./service";

/** How often a process refreshes its members' heartbeats. */
export const PRESENCE_HEARTBEAT_MS = 10_000;
/** A member whose process stopped heartbeating is gone after this long. */
export const PRESENCE_EXPIRY_MS = 30_000;
export const PRESENCE_CHANNEL = "ds_presence";

export interface PresenceMember {
  clientId: string;
  device: string;
  since: string;
  status?: string;
  /** Who it is, as people read it (a user's name, an API token's name), when the server knows. */
  name?: string;
}

/**
 * Who is connected to which session, shared across server processes through a table. Changes are
 * announced with a NOTIFY carrying only the session id; every process re-reads that session's members
 * and tells its local subscribers. A process that dies stops heartbeating, and its members expire.
 */
export class Presence {
  #sql: Sql;
  #log: Logger;
  #processId = newId("proc");
  #local = new Map<string, string>(); // memberId → sessionId
  #listeners = new Set<(sessionId: string) => void>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: { sql: Sql; log: Logger }) {
    this.#sql = options.sql;
    this.#log = options.log;
  }

  async start(listener: Listener): Promise<void> {
    await listener.on(PRESENCE_CHANNEL, (sessionId) => this.#emit(sessionId));
    // After a reconnect we may have missed changes: refresh every session we serve.
    listener.onResync(() => {
      for (const sessionId of new Set(this.#local.values())) this.#emit(sessionId);
    });
    this.#timer = setInterval(() => void this.#heartbeat().catch((error) => this.#log.warn("presence heartbeat failed", { error })), PRESENCE_HEARTBEAT_MS);
  }

  /** Called with a session id whenever its members may have changed. */
  onChange(callback: (sessionId: string) => void): () => void {
    this.#listeners.add(callback);
    return () => this.#listeners.delete(callback);
  }

  async join(input: { sessionId: string; clientId: string; device: string; status?: string; memberId?: string; name?: string }): Promise<string> {
    const memberId = input.memberId ?? newId("mem");
    await this.#sql`
      insert into session_presence (member_id, session_id, client_id, device, status, name, process_id)
      values (${memberId}, ${input.sessionId}, ${input.clientId}, ${input.device}, ${input.status ?? null}, ${input.name ?? null}, ${this.#processId})
      on conflict (member_id) do update set status = excluded.status, heartbeat_at = now()`;
    this.#local.set(memberId, input.sessionId);
    await this.#announce(input.sessionId);
    return memberId;
  }

  async leave(memberId: string): Promise<void> {
    const sessionId = this.#local.get(memberId);
    this.#local.delete(memberId);
    const rows = await this.#sql<{ sessionId: string }[]>`delete from session_presence where member_id = ${memberId} returning session_id as "sessionId"`;
    const id = rows[0]?.sessionId ?? sessionId;
    if (id) await this.#announce(id);
  }

  async members(sessionId: string): Promise<PresenceMember[]> {
    const rows = await this.#sql<{ clientId: string; device: string; since: Date; status: string | null; name: string | null }[]>`
      select client_id as "clientId", device, min(since) as since, max(status) as status, max(name) as name
      from session_presence
      where session_id = ${sessionId} and heartbeat_at > now() - make_interval(secs => ${PRESENCE_EXPIRY_MS / 1000})
      group by client_id, device order by min(since)`;
    return rows.map((r) => ({ clientId: r.clientId, device: r.device, since: new Date(r.since).toISOString(), ...(r.status ? { status: r.status } : {}), ...(r.name ? { name: r.name } : {}) }));
  }

  /** Leaves every local member (at shutdown). */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    const sessions = new Set(this.#local.values());
    this.#local.clear();
    await this.#sql`delete from session_presence where process_id = ${this.#processId}`.catch(() => {});
    for (const sessionId of sessions) await this.#announce(sessionId).catch(() => {});
  }

  async #heartbeat() {
    if (this.#local.size > 0) await this.#sql`update session_presence set heartbeat_at = now() where process_id = ${this.#processId}`;
    // Members of processes that died: remove them and tell their sessions.
    const stale = await this.#sql<{ sessionId: string }[]>`
      delete from session_presence where heartbeat_at < now() - make_interval(secs => ${PRESENCE_EXPIRY_MS / 1000})
      returning session_id as "sessionId"`;
    for (const sessionId of new Set(stale.map((r) => r.sessionId))) await this.#announce(sessionId);
  }

  async #announce(sessionId: string) {
    await this.#sql`select pg_notify(${PRESENCE_CHANNEL}, ${sessionId})`;
  }

  #emit(sessionId: string) {
    for (const callback of this.#listeners) {
      try {
        callback(sessionId);
      } catch (error) {
        this.#log.error("presence listener failed", { error });
      }
    }
  }
}
