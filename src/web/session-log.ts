import type { SessionService, OffsetEvent } from "../sessions/service";
import type { StreamRow } from "../streams/store";
import { MAX_EVENTS_PAGE } from "../sessions/service";
import { formatOffset } from "../streams/offsets";
import { sectionSummary } from "./section-form";

/** Pages never read more than this many appends of a session to draw themselves; the socket does the rest. */
export const MAX_PAGE_EVENTS = 5_000;

/**
 * A session's events up to its tail at the time of the call, and that tail's offset: a page draws
 * this state and its script subscribes from `offset`, so nothing is missed or shown twice.
 */
export async function readSessionLog(sessions: SessionService, sessionId: string): Promise<{ events: OffsetEvent[]; offset: string; row: StreamRow } | undefined> {
  const row = await sessions.stream(sessionId);
  if (!row) return undefined;
  const events: OffsetEvent[] = [];
  let offset = "-1";
  for (let read = 0; read < MAX_PAGE_EVENTS; read += MAX_EVENTS_PAGE) {
    const page = await sessions.events(row, offset, MAX_EVENTS_PAGE);
    if (!page) break;
    events.push(...page.events);
    offset = page.nextOffset;
    if (page.upToDate || page.events.length === 0) break;
  }
  return { events, offset: formatOffset(row.tailPos), row };
}

export type AgentKey = "copy" | "hero" | "assembly";
export type AgentStatus = "waiting" | "running" | "completed" | "interrupted" | "cancelled" | "failed";

export interface GenerationState {
  agents: Record<AgentKey, { runId?: string; label: string; progress: number; status: AgentStatus; error?: string }>;
  sections: Array<{ id: string; type: string; summary: string }>;
  heroUrl?: string;
  /** The hero image waiting for a person's approval (`approveHero`), until it is answered. */
  approval?: { requestId: string; prompt: string; imageUrl: string; productPhotoUrl?: string };
  /** Set once the orchestrator run has ended. */
  ended?: { status: string; error?: string };
}

const AGENT_OF: Record<string, AgentKey> = { "email-copy": "copy", "email-hero": "hero", email: "assembly" };

/**
 * Folds a generation's events (the orchestrator run `runId` and its sub-agents) into what the live
 * view shows. static/generation.js applies the same rules to live events.
 */
export function generationState(events: ReadonlyArray<{ event: OffsetEvent["event"] }>, runId: string | null): GenerationState {
  const state: GenerationState = {
    agents: {
      copy: { label: "Waiting to start", progress: 0, status: "waiting" },
      hero: { label: "Waiting to start", progress: 0, status: "waiting" },
      assembly: { label: "Waiting for the copy and the image", progress: 0, status: "waiting" },
    },
    sections: [],
  };
  const ours = new Map<string, AgentKey>();
  for (const { event } of events) {
    if (event.type === "run.start") {
      const key = AGENT_OF[event.agent];
      if (key && (event.runId === runId || event.parentRunId === runId)) {
        ours.set(event.runId, key);
        state.agents[key] = { ...state.agents[key], runId: event.runId, status: "running", label: "Starting" };
      }
    } else if (event.type === "run.progress") {
      const key = ours.get(event.runId);
      if (key) state.agents[key] = { ...state.agents[key], label: event.label, progress: event.progress ?? state.agents[key].progress };
    } else if (event.type === "run.end") {
      const key = ours.get(event.runId);
      if (key) {
        state.agents[key] = { ...state.agents[key], status: event.status, ...(event.status === "completed" ? { progress: 1 } : {}), ...(event.error ? { error: event.error } : {}) };
        if (event.runId === runId) {
          state.ended = { status: event.status, ...(event.error ? { error: event.error } : {}) };
          delete state.approval;
        }
      }
    } else if (event.type === "input.request" && event.runId === runId && event.kind === "approval") {
      const schema = (event.schema ?? {}) as { imageUrl?: unknown; productPhotoUrl?: unknown };
      if (typeof schema.imageUrl === "string") state.approval = { requestId: event.requestId, prompt: event.prompt, imageUrl: schema.imageUrl, ...(typeof schema.productPhotoUrl === "string" ? { productPhotoUrl: schema.productPhotoUrl } : {}) };
    } else if (event.type === "control" && event.action === "respond" && event.requestId === state.approval?.requestId) {
      delete state.approval;
    } else if (event.type === "artifact" && ours.has(event.runId)) {
      if (event.kind === "image") state.heroUrl = event.ref;
      if (event.kind === "section" && event.data && typeof event.data === "object") {
        const section = event.data as { id: string; type: string; fields?: Record<string, unknown> };
        const item = { id: section.id, type: section.type, summary: sectionSummary(section.type, section.fields ?? {}) };
        const at = state.sections.findIndex((s) => s.id === item.id);
        if (at >= 0) state.sections[at] = item;
        else state.sections.push(item);
      }
    }
  }
  return state;
}
