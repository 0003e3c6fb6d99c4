import { clientMessageId } from "./permissions";
import type { Sql } from "postgres";
import { formatOffset } from "../streams/offsets";
import { decodeJsonValues, type StoredMessage } from "../streams/store";
import type { SessionEvent } from "./events";
import { newId, type SessionService } from "./service";
import type { Turns } from "./turns";
import { ALL_TEAMS } from "../accounts/scope";

export interface BranchRecord {
  id: string;
  parentId: string | null;
  fromMessageId: string | null;
  createdAt: Date;
}

export type CreateBranchResult =
  | { ok: true; branchId: string; rootId: string; messageId: string; runId?: string }
  | { ok: false; code: "session_not_found" | "message_not_found" | "not_a_user_message" | "no_agent" | "session_closed"; message: string };

/**
 * Branches of a conversation. Editing a user message or regenerating an answer makes a new branch:
 * a session whose stream is a fork (copy-on-fork) of the session it came from, cut just before the
 * edited message (or just before the answer), which then goes on with the edit or a new answer. The
 * tree's root records which branch its clients follow (`branch.switched` in the root's log).
 */
export class Branches {
  #sql: Sql;
  #sessions: SessionService;
  #turns: Turns;

  constructor(options: { sql: Sql; sessions: SessionService; turns: Turns }) {
    this.#sql = options.sql;
    this.#sessions = options.sessions;
    this.#turns = options.turns;
  }

  /** The root of the tree a session belongs to. */
  async rootOf(sessionId: string): Promise<string> {
    const [row] = await this.#sql<{ rootId: string | null }[]>`select root_id as "rootId" from sessions where id = ${sessionId}`;
    return row?.rootId ?? sessionId;
  }

  /** Every session of the tree (the root first, then branches oldest first) and the one followed. */
  async list(sessionId: string): Promise<{ rootId: string; current: string; branches: BranchRecord[] }> {
    const rootId = await this.rootOf(sessionId);
    const rows = await this.#sql<(BranchRecord & { currentBranch: string | null })[]>`
      select id, parent_id as "parentId", branch_from as "fromMessageId", created_at as "createdAt", current_branch as "currentBranch"
      from sessions where id = ${rootId} or root_id = ${rootId} order by (id = ${rootId}) desc, created_at, id`;
    const root = rows.find((r) => r.id === rootId);
    return { rootId, current: root?.currentBranch ?? rootId, branches: rows.map(({ currentBranch: _, ...branch }) => branch) };
  }

  /**
   * Branches `sessionId` at `messageId`: with `text`, an edit of that user message (the branch
   * gets the edited message, which starts a turn); without, a regeneration of the answer to it (a
   * user message) or of that answer (an assistant message), answered afresh in the branch.
   */
  async create(input: { sessionId: string; messageId: string; text?: string; clientId?: string }): Promise<CreateBranchResult> {
    // The caller has checked the principal may use this session (the team gate is at the edge).
    const parent = await this.#sessions.get(input.sessionId, ALL_TEAMS);
    if (!parent) return { ok: false, code: "session_not_found", message: `No session ${input.sessionId}.` };
    const row = await this.#sessions.stream(input.sessionId);
    if (!row) return { ok: false, code: "session_not_found", message: `No session ${input.sessionId}.` };
    const found = await this.#locate(row.id, input.messageId);
    if (!found) return { ok: false, code: "message_not_found", message: `No message ${input.messageId} in this session.` };
    const edit = input.text !== undefined;
    if (edit && found.role !== "user") return { ok: false, code: "not_a_user_message", message: "Only a user message can be edited; regenerate an answer instead." };
    if (!parent.agent && !edit) return { ok: false, code: "no_agent", message: "Regenerating needs the session's default agent (create the session with {agent})." };
    // Edit: cut before the message. Regenerate: cut before the answer (just after the user message it answers).
    const userMessageId = found.role === "user" ? input.messageId : found.inReplyTo ?? found.previousUser;
    if (!userMessageId) return { ok: false, code: "message_not_found", message: "No user message before this answer to answer again." };
    const cutPos = edit || found.role !== "user" ? found.beforePos : found.atPos;
    const rootId = parent.rootId ?? parent.id;
    const branch = await this.#sessions.create({
      title: parent.title ?? undefined,
      teamId: parent.teamId,
      ...(parent.agent ? { agent: parent.agent } : {}),
      doubleTexting: parent.doubleTexting,
      branch: { parentId: parent.id, rootId, fromMessageId: input.messageId, offset: formatOffset(cutPos) },
    });
    await this.#sql`update sessions set run_defaults = (select run_defaults from sessions where id = ${parent.id}) where id = ${branch.id}`;
    await this.#sessions.append(rootId, { type: "branch.created", branchId: branch.id, parentId: parent.id, fromMessageId: input.messageId, reason: edit ? "edit" : "regenerate" });
    if (edit) {
      const event: Extract<SessionEvent, { type: "message" }> = { type: "message", id: input.clientId ? clientMessageId(input.clientId, newId("msg")) : newId("msg"), role: "user", text: input.text!, ...(input.clientId ? { clientId: input.clientId } : {}) };
      const posted = await this.#turns.postUserMessage({ sessionId: branch.id, event, clientId: input.clientId });
      if (!posted.ok) return { ok: false, code: posted.code === "session_closed" ? "session_closed" : "session_not_found", message: "The branch could not take the message." };
      return { ok: true, branchId: branch.id, rootId, messageId: event.id, ...(posted.runId ? { runId: posted.runId } : {}) };
    }
    const runId = await this.#turns.answer(branch.id, userMessageId, input.clientId);
    return { ok: true, branchId: branch.id, rootId, messageId: userMessageId, ...(runId ? { runId } : {}) };
  }

  /** Makes `branchId` (a session of the tree, or the root) the one the conversation's clients follow. */
  async switchTo(sessionId: string, branchId: string): Promise<{ ok: true; rootId: string; offset: string } | { ok: false; code: "branch_not_found"; message: string }> {
    const rootId = await this.rootOf(sessionId);
    const [member] = await this.#sql`select id from sessions where id = ${branchId} and (id = ${rootId} or root_id = ${rootId})`;
    if (!member) return { ok: false, code: "branch_not_found", message: `No branch ${branchId} in this conversation.` };
    await this.#sql`update sessions set current_branch = ${branchId === rootId ? null : branchId} where id = ${rootId}`;
    // Every session of the tree records the switch, so a client following any branch learns of it.
    const members = await this.#sql<{ id: string }[]>`select id from sessions where id = ${rootId} or root_id = ${rootId} order by (id = ${rootId}) desc, created_at, id`;
    let offset: string | undefined;
    for (const member of members) {
      const appended = await this.#sessions.append(member.id, { type: "branch.switched", branchId, rootId });
      if (appended.ok && member.id === sessionId) offset = appended.offset;
    }
    return offset ? { ok: true, rootId, offset } : { ok: false, code: "branch_not_found", message: "The conversation is closed." };
  }

  /** Where a message is in a stream: the positions around its append, its role, and what it replies to. */
  async #locate(streamId: number, messageId: string) {
    let afterPos = 0;
    let previousUser: string | undefined;
    while (true) {
      const rows = await this.#sql<StoredMessage[]>`select pos, data, count from stream_messages where stream_id = ${streamId} and pos > ${afterPos} order by pos limit 1000`;
      if (rows.length === 0) return undefined;
      for (const message of rows) {
        for (const value of decodeJsonValues(message.data) as SessionEvent[]) {
          if (value.type === "message" && value.id === messageId) return { role: value.role, beforePos: afterPos, atPos: message.pos, inReplyTo: undefined, previousUser };
          if (value.type === "message.start" && value.id === messageId) return { role: "assistant" as const, beforePos: afterPos, atPos: message.pos, inReplyTo: value.inReplyTo, previousUser };
          if (value.type === "message" && value.role === "user") previousUser = value.id;
        }
        afterPos = message.pos;
      }
    }
  }
}
