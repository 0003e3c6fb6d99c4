import { pgTable, text, timestamp, bigserial, bigint, boolean, customType, integer, primaryKey, uniqueIndex, index, jsonb } from "drizzle-orm/pg-core";
import { sql } from "drizzle-orm";

/** Facts about this installation (install id, created time). */
export const installation = pgTable("installation", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});


const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => "bytea" });

/**
 * One row per live or soft-deleted stream. `path` is the full URL path (`/v1/stream/…`); a surrogate
 * `id` means a delete and re-create at the same path can never mix data. `tail_pos` is the end
 * position of the last message; offsets are `0000000000000000_` + tail_pos padded to 16 digits.
 */
export const streams = pgTable(
  "streams",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    path: text("path").notNull(),
    contentType: text("content_type").notNull(),
    /** `active` or `soft_deleted` (deleted while forks still read through it). */
    state: text("state").notNull().default("active"),
    ttlSeconds: integer("ttl_seconds"),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }),
    expiresAtRaw: text("expires_at_raw"),
    lastAccessMs: bigint("last_access_ms", { mode: "number" }).notNull(),
    closed: boolean("closed").notNull().default(false),
    closedByProducer: text("closed_by_producer"),
    closedByEpoch: bigint("closed_by_epoch", { mode: "number" }),
    closedBySeq: bigint("closed_by_seq", { mode: "number" }),
    tailPos: bigint("tail_pos", { mode: "number" }).notNull().default(0),
    lastStreamSeq: text("last_stream_seq"),
    /** The team that created it (null: created with the bootstrap token or with STREAMS_AUTH=off). */
    teamId: text("team_id"),
    forkedFromId: bigint("forked_from_id", { mode: "number" }),
    forkedFromPath: text("forked_from_path"),
    forkOffset: text("fork_offset"),
    forkSubOffset: integer("fork_sub_offset").notNull().default(0),
    refCount: integer("ref_count").notNull().default(0),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [uniqueIndex("streams_path_key").on(table.path), index("streams_expiry_idx").on(table.expiresAt)],
);

/**
 * The messages of a stream: one row per append (a JSON append may hold several values, `count`).
 * No foreign key (migration 0013): it cost a check per appended row; deleting a stream deletes its
 * messages through the `streams_delete_messages` trigger instead.
 */
export const streamMessages = pgTable(
  "stream_messages",
  {
    streamId: bigint("stream_id", { mode: "number" }).notNull(),
    /** End position of this message: its offset. */
    pos: bigint("pos", { mode: "number" }).notNull(),
    data: bytea("data").notNull(),
    /** Number of JSON values in a JSON-mode append (1 for other streams). */
    count: integer("count").notNull().default(1),
  },
  (table) => [primaryKey({ columns: [table.streamId, table.pos] })],
);

/** Idempotent producer state per stream and `Producer-Id`. */
export const streamProducers = pgTable(
  "stream_producers",
  {
    streamId: bigint("stream_id", { mode: "number" })
      .notNull()
      .references(() => streams.id, { onDelete: "cascade" }),
    producerId: text("producer_id").notNull(),
    epoch: bigint("epoch", { mode: "number" }).notNull(),
    lastSeq: bigint("last_seq", { mode: "number" }).notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.streamId, table.producerId] })],
);

/** Idempotency keys for appends (a session event's `id`): the same key on one stream appends once. */
export const streamDedupe = pgTable(
  "stream_dedupe",
  {
    streamId: bigint("stream_id", { mode: "number" })
      .notNull()
      .references(() => streams.id, { onDelete: "cascade" }),
    key: text("key").notNull(),
    pos: bigint("pos", { mode: "number" }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.streamId, table.key] })],
);

/**
 * A session's compacted state stored at a stream position (see SessionService.compacted): the
 * Compactor's saved messages with every append up to `pos` folded in, one row per stream and state
 * `format` (a process with another format never reads it). Deleting the stream deletes it.
 */
export const sessionCheckpoints = pgTable(
  "session_checkpoints",
  {
    streamId: bigint("stream_id", { mode: "number" })
      .notNull()
      .references(() => streams.id, { onDelete: "cascade" }),
    format: integer("format").notNull(),
    pos: bigint("pos", { mode: "number" }).notNull(),
    state: text("state").notNull(),
    writtenAt: timestamp("written_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.streamId, table.format] })],
);

/** A durable session: the JSON-mode stream `/v1/stream/sessions/<id>` plus metadata. */
export const sessions = pgTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    teamId: text("team_id"),
    title: text("title"),
    /** The agent a plain user message starts a turn with (none: plain messages start nothing). */
    agent: text("agent"),
    /** JSON `{provider?, options?}` for turns started by a plain message. */
    runDefaults: text("run_defaults"),
    /** What a user message does while a turn runs: enqueue | interrupt | reject | parallel. */
    doubleTexting: text("double_texting").notNull().default("parallel"),
    /** Branches: the session this one was forked from (null for a root), the root of its tree, and the message it branched at. */
    parentId: text("parent_id"),
    rootId: text("root_id"),
    branchFrom: text("branch_from"),
    /** On a root: the branch its clients are following (null: the root itself). */
    currentBranch: text("current_branch"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index("sessions_team_idx").on(table.teamId, table.createdAt), index("sessions_root_idx").on(table.rootId).where(sql`${table.rootId} is not null`)],
);

/** Agent runs in a session; the session's events are the truth of what a run said, this row of its status. */
export const runs = pgTable(
  "runs",
  {
    id: text("id").primaryKey(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    agent: text("agent").notNull(),
    /** waiting (a turn behind another) | queued | running | retrying | suspended | completed | interrupted | cancelled | failed */
    status: text("status").notNull().default("queued"),
    /** A turn answers one user message (`message_id`); turns of a session follow its double-texting policy. */
    turn: boolean("turn").notNull().default(false),
    messageId: text("message_id"),
    /** JSON state a suspended run continues from (an approval it waits for). */
    resumeState: text("resume_state"),
    provider: text("provider"),
    input: text("input"),
    options: text("options"),
    parentRunId: text("parent_run_id"),
    clientId: text("client_id"),
    error: text("error"),
    /** The session's tail when the run was requested: control events from here on apply to it. */
    startPos: bigint("start_pos", { mode: "number" }).notNull().default(0),
    jobId: text("job_id"),
    attempt: integer("attempt").notNull().default(0),
    /** The process running it (`host/pid/startedAtMs`): a restarted process reclaims the runs of its dead self at once. */
    worker: text("worker"),
    /** Refreshed by the process running it; a stale heartbeat means that process died. */
    heartbeatAt: timestamp("heartbeat_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp("started_at", { withTimezone: true }),
    endedAt: timestamp("ended_at", { withTimezone: true }),
  },
  (table) => [index("runs_session_idx").on(table.sessionId, table.createdAt), index("runs_status_idx").on(table.status, table.heartbeatAt)],
);

/**
 * Questions a run asked (approval, choice, text). The run suspends without holding a worker; an
 * answer (or the deadline) queues it again, on any process.
 */
export const inputRequests = pgTable(
  "input_requests",
  {
    id: text("id").primaryKey(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    runId: text("run_id").notNull(),
    kind: text("kind").notNull(),
    prompt: text("prompt").notNull(),
    schema: text("schema"),
    /** pending | answered | expired | cancelled */
    status: text("status").notNull().default("pending"),
    value: text("value"),
    answeredBy: text("answered_by"),
    deadlineAt: timestamp("deadline_at", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    answeredAt: timestamp("answered_at", { withTimezone: true }),
  },
  (table) => [index("input_requests_run_idx").on(table.runId), index("input_requests_pending_idx").on(table.status, table.deadlineAt)],
);

/**
 * Who is connected to a session, across processes. Each process refreshes `heartbeat_at` for its
 * own members; rows of a process that died stop being refreshed and drop out after the expiry.
 */
export const sessionPresence = pgTable(
  "session_presence",
  {
    memberId: text("member_id").primaryKey(),
    sessionId: text("session_id").notNull(),
    clientId: text("client_id").notNull(),
    device: text("device").notNull(),
    status: text("status"),
    /** Who the member is, as people read it (a user's name, an API token's name). */
    name: text("name"),
    processId: text("process_id").notNull(),
    since: timestamp("since", { withTimezone: true }).notNull().defaultNow(),
    heartbeatAt: timestamp("heartbeat_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index("session_presence_session_idx").on(table.sessionId)],
);

/** A team: everything (sessions, streams, brands, assets, emails) belongs to one. */
export const teams = pgTable("teams", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

export const users = pgTable(
  "users",
  {
    id: text("id").primaryKey(),
    teamId: text("team_id")
      .notNull()
      .references(() => teams.id, { onDelete: "cascade" }),
    email: text("email").notNull(),
    name: text("name").notNull(),
    /** argon2id via Bun.password. */
    passwordHash: text("password_hash").notNull(),
    /** owner | member */
    role: text("role").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [uniqueIndex("users_email_key").on(table.email)],
);

/** Cookie sessions: the cookie holds a random token; only its SHA-256 is stored. */
export const userSessions = pgTable(
  "user_sessions",
  {
    tokenHash: text("token_hash").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    csrfToken: text("csrf_token").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    lastSeenAt: timestamp("last_seen_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index("user_sessions_user_idx").on(table.userId)],
);

/** API tokens for engineers: shown once, stored hashed, scoped to a team. */
export const apiTokens = pgTable(
  "api_tokens",
  {
    id: text("id").primaryKey(),
    teamId: text("team_id")
      .notNull()
      .references(() => teams.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    tokenHash: text("token_hash").notNull(),
    /** The first characters, to recognise a token in the list. */
    prefix: text("prefix").notNull(),
    createdBy: text("created_by"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp("last_used_at", { withTimezone: true }),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
  },
  (table) => [uniqueIndex("api_tokens_hash_key").on(table.tokenHash), index("api_tokens_team_idx").on(table.teamId)],
);

/**
 * Client tokens revoked before they expire (`DELETE /api/sessions/:id/client-tokens/:tokenId`). A
 * client token is signed, not stored; a row here outlives it only until the token would expire.
 */
export const clientTokenRevocations = pgTable(
  "client_token_revocations",
  {
    tokenId: text("token_id").primaryKey(),
    sessionId: text("session_id")
      .notNull()
      .references(() => sessions.id, { onDelete: "cascade" }),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    revokedAt: timestamp("revoked_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index("client_token_revocations_expires_idx").on(table.expiresAt)],
);

/** Invite links (no email is sent): the link holds a token whose hash is stored. */
export const invites = pgTable("invites", {
  id: text("id").primaryKey(),
  teamId: text("team_id")
    .notNull()
    .references(() => teams.id, { onDelete: "cascade" }),
  tokenHash: text("token_hash").notNull().unique(),
  role: text("role").notNull(),
  createdBy: text("created_by"),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
  usedAt: timestamp("used_at", { withTimezone: true }),
});

/** Fixed-window counters for rate limits shared across processes (login attempts). */
export const rateLimits = pgTable("rate_limits", {
  key: text("key").primaryKey(),
  windowStart: timestamp("window_start", { withTimezone: true }).notNull(),
  count: integer("count").notNull(),
});

/** Uploaded images (logos, product images, reference screenshots, generated heroes), kept in Postgres. */
export const assets = pgTable(
  "assets",
  {
    id: text("id").primaryKey(),
    teamId: text("team_id"),
    /** logo | product | reference | hero | upload | crop */
    kind: text("kind").notNull().default("upload"),
    name: text("name"),
    contentType: text("content_type").notNull(),
    bytes: bytea("bytes").notNull(),
    byteLength: integer("byte_length").notNull(),
    width: integer("width"),
    height: integer("height"),
    sha256: text("sha256").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    /** A crop's source image (kind `crop`): the editor's image panel cuts the slot's shape around a focal point. */
    sourceId: text("source_id"),
    /** A crop's `{aspect, x, y}` (focal point 0–1 from the left and the top). */
    crop: jsonb("crop"),
  },
  (table) => [index("assets_team_idx").on(table.teamId, table.createdAt), index("assets_source_idx").on(table.sourceId).where(sql`${table.sourceId} is not null`)],
);

/** A brand design system; its settings are one validated JSON document. */
export const brands = pgTable(
  "brands",
  {
    id: text("id").primaryKey(),
    teamId: text("team_id"),
    name: text("name").notNull(),
    data: text("data").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index("brands_team_idx").on(table.teamId)],
);

export const briefs = pgTable(
  "briefs",
  {
    id: text("id").primaryKey(),
    teamId: text("team_id"),
    brandId: text("brand_id")
      .notNull()
      .references(() => brands.id, { onDelete: "cascade" }),
    data: text("data").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index("briefs_team_idx").on(table.teamId)],
);

/** A generated email: its current document and version; every version is kept in email_versions. */
export const emails = pgTable(
  "emails",
  {
    id: text("id").primaryKey(),
    teamId: text("team_id"),
    briefId: text("brief_id").references(() => briefs.id, { onDelete: "set null" }),
    brandId: text("brand_id")
      .notNull()
      .references(() => brands.id, { onDelete: "cascade" }),
    sessionId: text("session_id").notNull(),
    runId: text("run_id"),
    /** generating | ready | failed */
    status: text("status").notNull(),
    provider: text("provider"),
    version: integer("version").notNull().default(0),
    document: text("document").notNull(),
    error: text("error"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
    /** The marketer's name for it; null = named after its subject (or its brief's hook). */
    name: text("name"),
    /** Archived (hidden from the library, restorable); null = in the library. */
    archivedAt: timestamp("archived_at", { withTimezone: true }),
    /** A template: listed under Templates, copied by "New email from template". */
    isTemplate: boolean("is_template").notNull().default(false),
  },
  (table) => [index("emails_team_idx").on(table.teamId, table.createdAt), index("emails_library_idx").on(table.teamId, table.isTemplate, table.createdAt, table.id)],
);

/** A section saved for reuse with a brand ("saved block"): inserted into any email of the team. */
export const savedBlocks = pgTable(
  "saved_blocks",
  {
    id: text("id").primaryKey(),
    teamId: text("team_id"),
    brandId: text("brand_id")
      .notNull()
      .references(() => brands.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /** The section as JSON: `{type, fields}` (its id is fresh at each insert). */
    section: text("section").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index("saved_blocks_brand_idx").on(table.teamId, table.brandId, table.createdAt)],
);

export const emailVersions = pgTable(
  "email_versions",
  {
    emailId: text("email_id")
      .notNull()
      .references(() => emails.id, { onDelete: "cascade" }),
    version: integer("version").notNull(),
    document: text("document").notNull(),
    note: text("note"),
    /** edit | undo | redo | restore | generated: undo and redo rows move the pointer and are not listed as history entries. */
    kind: text("kind").notNull().default("edit"),
    /** The history entry whose document this version shows (itself, except for undo and redo). */
    shows: integer("shows"),
    /** Who made it: a person's name, "AI", or an API token's name. */
    author: text("author"),
    /** The tab (or client) that made it, as announced in the email.version event. */
    clientId: text("client_id"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.emailId, table.version] })],
);

/**
 * A brand import from a website: the agent run that fetches it, and the proposal it made for review.
 * status: running | ready | failed | cancelled | accepted
 */
export const brandImports = pgTable(
  "brand_imports",
  {
    id: text("id").primaryKey(),
    teamId: text("team_id"),
    url: text("url").notNull(),
    sessionId: text("session_id").notNull(),
    runId: text("run_id"),
    status: text("status").notNull(),
    proposal: text("proposal"),
    errorCode: text("error_code"),
    error: text("error"),
    brandId: text("brand_id").references(() => brands.id, { onDelete: "set null" }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index("brand_imports_team_idx").on(table.teamId, table.createdAt)],
);

/** A brand's library of reference emails (screenshots a team likes), tagged, to pick on briefs. */
export const brandReferences = pgTable(
  "brand_references",
  {
    brandId: text("brand_id")
      .notNull()
      .references(() => brands.id, { onDelete: "cascade" }),
    assetId: text("asset_id")
      .notNull()
      .references(() => assets.id, { onDelete: "cascade" }),
    name: text("name"),
    tags: text("tags").array().notNull().default([]),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.brandId, table.assetId] }), index("brand_references_asset_idx").on(table.assetId)],
);
