import { createHash, randomBytes } from "node:crypto";
import type { Sql, TransactionSql } from "postgres";
import { newId } from "../sessions/service";
import { teamFilter, type TeamScope } from "./scope";

/** NOTIFY channel of revoked tokens (API token ids and client token ids): every process closes their sockets. */
export const TOKEN_REVOKED_CHANNEL = "ds_token_revoked";

/** Cookie sessions last this long, then the person logs in again. */
export const SESSION_TTL_MS = 14 * 24 * 60 * 60 * 1000;
/** Invite links expire after this long. */
export const INVITE_TTL_MS = 7 * 24 * 60 * 60 * 1000;
export const MIN_PASSWORD_LENGTH = 10;
/** Failed logins allowed per account, and per client address, in one window. */
export const LOGIN_LIMIT_PER_ACCOUNT = 5;
export const LOGIN_LIMIT_PER_ADDRESS = 20;
export const LOGIN_WINDOW_MS = 15 * 60 * 1000;
/** last_used_at of an API token is written at most this often. */
const TOKEN_TOUCH_MS = 60_000;

export type Role = "owner" | "member";

export interface User {
  id: string;
  teamId: string;
  email: string;
  name: string;
  role: Role;
}

export interface Team {
  id: string;
  name: string;
}

export interface ApiTokenInfo {
  id: string;
  name: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export type LoginResult =
  | { ok: true; user: User; sessionToken: string; expiresAt: Date }
  | { ok: false; code: "invalid_credentials" }
  | { ok: false; code: "rate_limited"; retryAfterSeconds: number };

/** The id under which a cookie session's sockets are closed when it ends (logout): never the cookie itself. */
export function cookieSessionId(tokenHash: string): string {
  return `cookie:${tokenHash}`;
}

/** SHA-256, hex: what we store of every bearer secret (session cookies, API tokens, invite links). */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

function secret(prefix: string): string {
  return `${prefix}${randomBytes(24).toString("base64url")}`;
}

const USER_COLUMNS = `u.id, u.team_id as "teamId", u.email, u.name, u.role`;

/**
 * Teams, people, cookie sessions, invites and API tokens. Passwords are hashed with
 * Bun.password (argon2id); every bearer secret is stored only as its SHA-256.
 */
export class Accounts {
  #sql: Sql;

  constructor(options: { sql: Sql }) {
    this.#sql = options.sql;
  }

  /** True until the first user exists: only then does /setup work. */
  async needsSetup(): Promise<boolean> {
    const [row] = await this.#sql<{ count: number }[]>`select count(*)::int as count from users`;
    return row!.count === 0;
  }

  /** Creates the first team and its owner, once; concurrent attempts are serialised by an advisory lock. */
  async setup(input: { teamName: string; name: string; email: string; password: string }): Promise<{ ok: true; user: User } | { ok: false; code: "already_set_up" }> {
    const passwordHash = await Bun.password.hash(input.password, { algorithm: "argon2id" });
    return this.#sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(727274002)`;
      const [existing] = await tx<{ count: number }[]>`select count(*)::int as count from users`;
      if (existing!.count > 0) return { ok: false, code: "already_set_up" } as const;
      return { ok: true, user: await this.#insertTeam(tx, input, passwordHash) } as const;
    });
  }

  /** Another team with its owner (the bootstrap admin's `POST /api/teams`). */
  async createTeam(input: { teamName: string; name: string; email: string; password: string }): Promise<{ ok: true; user: User } | { ok: false; code: "email_taken" }> {
    const passwordHash = await Bun.password.hash(input.password, { algorithm: "argon2id" });
    return this.#sql.begin(async (tx) => {
      const [taken] = await tx`select 1 from users where email = ${input.email.trim().toLowerCase()}`;
      if (taken) return { ok: false, code: "email_taken" } as const;
      return { ok: true, user: await this.#insertTeam(tx, input, passwordHash) } as const;
    });
  }

  async #insertTeam(tx: Sql | TransactionSql, input: { teamName: string; name: string; email: string }, passwordHash: string): Promise<User> {
    const teamId = newId("team");
    const userId = newId("user");
    const email = input.email.trim().toLowerCase();
    await tx`insert into teams (id, name) values (${teamId}, ${input.teamName})`;
    await tx`insert into users (id, team_id, email, name, password_hash, role) values (${userId}, ${teamId}, ${email}, ${input.name}, ${passwordHash}, 'owner')`;
    return { id: userId, teamId, email, name: input.name, role: "owner" };
  }

  async team(teamId: string): Promise<Team | undefined> {
    const [team] = await this.#sql<Team[]>`select id, name from teams where id = ${teamId}`;
    return team;
  }

  async members(teamId: string): Promise<User[]> {
    return this.#sql.unsafe<User[]>(`select ${USER_COLUMNS} from users u where u.team_id = $1 order by u.created_at`, [teamId]);
  }

  /**
   * Checks a password, rate-limited per account and per client address (failures only count; a
   * success clears the account's counter). Unknown emails cost a hash too, so timing does not tell
   * which accounts exist.
   */
  async login(input: { email: string; password: string; address: string }): Promise<LoginResult> {
    const email = input.email.trim().toLowerCase();
    // Postgres text cannot hold NUL; no account has one, so such a login can only be wrong.
    if (email.includes("\0")) return { ok: false, code: "invalid_credentials" };
    const limited = await this.#checkLimits([
      { key: `login:account:${email}`, limit: LOGIN_LIMIT_PER_ACCOUNT },
      { key: `login:address:${input.address}`, limit: LOGIN_LIMIT_PER_ADDRESS },
    ]);
    if (limited) return { ok: false, code: "rate_limited", retryAfterSeconds: limited };
    const [row] = await this.#sql.unsafe<(User & { passwordHash: string })[]>(`select ${USER_COLUMNS}, u.password_hash as "passwordHash" from users u where u.email = $1`, [email]);
    // An unknown email still costs one argon2id computation, so timing does not reveal accounts.
    const valid = row ? await Bun.password.verify(input.password, row.passwordHash) : (await Bun.password.hash(input.password, { algorithm: "argon2id" }), false);
    if (!row || !valid) {
      await this.#hit(`login:account:${email}`);
      await this.#hit(`login:address:${input.address}`);
      return { ok: false, code: "invalid_credentials" };
    }
    await this.#sql`delete from rate_limits where key = ${`login:account:${email}`}`;
    const { passwordHash: _, ...user } = row;
    const session = await this.createSession(user.id);
    return { ok: true, user, ...session };
  }

  async createSession(userId: string): Promise<{ sessionToken: string; expiresAt: Date }> {
    const sessionToken = secret("dss_");
    const expiresAt = new Date(Date.now() + SESSION_TTL_MS);
    await this.#sql`insert into user_sessions (token_hash, user_id, csrf_token, expires_at) values (${hashSecret(sessionToken)}, ${userId}, ${randomBytes(18).toString("base64url")}, ${expiresAt.toISOString()})`;
    return { sessionToken, expiresAt };
  }

  /** The person behind a session cookie, with the session's CSRF token; expired sessions are gone. */
  async sessionUser(sessionToken: string): Promise<{ user: User; csrfToken: string } | undefined> {
    const [row] = await this.#sql.unsafe<(User & { csrfToken: string })[]>(
      `select ${USER_COLUMNS}, s.csrf_token as "csrfToken" from user_sessions s join users u on u.id = s.user_id
       where s.token_hash = $1 and s.expires_at > now()`,
      [hashSecret(sessionToken)],
    );
    if (!row) return undefined;
    const { csrfToken, ...user } = row;
    return { user, csrfToken };
  }

  /** Logout: the session is revoked server-side, not only the cookie cleared. */
  async logout(sessionToken: string): Promise<void> {
    const rows = await this.#sql<{ tokenHash: string }[]>`delete from user_sessions where token_hash = ${hashSecret(sessionToken)} returning token_hash as "tokenHash"`;
    await this.#notifyRevoked(rows.map((row) => cookieSessionId(row.tokenHash)));
  }

  /** Revokes every session of a person (e.g. after a password change). */
  async revokeSessions(userId: string): Promise<void> {
    const rows = await this.#sql<{ tokenHash: string }[]>`delete from user_sessions where user_id = ${userId} returning token_hash as "tokenHash"`;
    await this.#notifyRevoked(rows.map((row) => cookieSessionId(row.tokenHash)));
  }

  /** Tells every process to close the sockets of these credentials (TOKEN_REVOKED_CHANNEL). */
  async #notifyRevoked(ids: string[]): Promise<void> {
    for (const id of ids) await this.#sql`select pg_notify(${TOKEN_REVOKED_CHANNEL}, ${id})`;
  }

  async createInvite(user: User, role: Role): Promise<{ token: string; expiresAt: Date }> {
    const token = secret("dsi_");
    const expiresAt = new Date(Date.now() + INVITE_TTL_MS);
    await this.#sql`insert into invites (id, team_id, token_hash, role, created_by, expires_at) values (${newId("inv")}, ${user.teamId}, ${hashSecret(token)}, ${role}, ${user.id}, ${expiresAt.toISOString()})`;
    return { token, expiresAt };
  }

  async invite(token: string): Promise<{ teamId: string; teamName: string; role: Role } | undefined> {
    const [row] = await this.#sql<{ teamId: string; teamName: string; role: Role }[]>`
      select i.team_id as "teamId", t.name as "teamName", i.role from invites i join teams t on t.id = i.team_id
      where i.token_hash = ${hashSecret(token)} and i.used_at is null and i.expires_at > now()`;
    return row;
  }

  /** Joins the invite's team; the link works once. */
  async acceptInvite(token: string, input: { name: string; email: string; password: string }): Promise<{ ok: true; user: User } | { ok: false; code: "invite_invalid" | "email_taken" }> {
    const passwordHash = await Bun.password.hash(input.password, { algorithm: "argon2id" });
    return this.#sql.begin(async (tx) => {
      const [invite] = await tx<{ id: string; teamId: string; role: Role }[]>`
        update invites set used_at = now() where token_hash = ${hashSecret(token)} and used_at is null and expires_at > now()
        returning id, team_id as "teamId", role`;
      if (!invite) return { ok: false, code: "invite_invalid" } as const;
      const email = input.email.trim().toLowerCase();
      const [taken] = await tx`select 1 from users where email = ${email}`;
      if (taken) throw Object.assign(new Error("email taken"), { code: "email_taken" });
      const userId = newId("user");
      await tx`insert into users (id, team_id, email, name, password_hash, role) values (${userId}, ${invite.teamId}, ${email}, ${input.name}, ${passwordHash}, ${invite.role})`;
      return { ok: true, user: { id: userId, teamId: invite.teamId, email, name: input.name, role: invite.role } } as const;
    }).catch((error) => {
      if ((error as { code?: string }).code === "email_taken") return { ok: false, code: "email_taken" } as const;
      throw error;
    });
  }

  /** A new API token: returned once, stored hashed. */
  async createApiToken(user: User, name: string): Promise<{ token: string; info: ApiTokenInfo }> {
    const token = secret("dsk_");
    const id = newId("tok");
    const [info] = await this.#sql<ApiTokenInfo[]>`
      insert into api_tokens (id, team_id, name, token_hash, prefix, created_by) values (${id}, ${user.teamId}, ${name}, ${hashSecret(token)}, ${token.slice(0, 10)}, ${user.id})
      returning id, name, prefix, created_at as "createdAt", last_used_at as "lastUsedAt", revoked_at as "revokedAt"`;
    return { token, info: info! };
  }

  async apiTokens(scope: TeamScope): Promise<ApiTokenInfo[]> {
    return this.#sql<ApiTokenInfo[]>`
      select id, name, prefix, created_at as "createdAt", last_used_at as "lastUsedAt", revoked_at as "revokedAt"
      from api_tokens where ${teamFilter(this.#sql, scope)} order by created_at desc`;
  }

  /**
   * Revokes an API token of the scope's team. Every process closes the token's open sockets at once
   * (NOTIFY on TOKEN_REVOKED_CHANNEL); HTTP requests with it are refused from now on.
   */
  async revokeApiToken(scope: TeamScope, id: string): Promise<boolean> {
    const rows = await this.#sql`update api_tokens set revoked_at = now() where id = ${id} and ${teamFilter(this.#sql, scope)} and revoked_at is null returning id`;
    if (rows.length === 0) return false;
    await this.#notifyRevoked([id]);
    return true;
  }

  /**
   * Revokes a client token of `sessionId` (its sockets close on every process, HTTP refuses it). The
   * row is kept until the token would have expired at the latest; older rows are cleared here.
   */
  async revokeClientToken(input: { tokenId: string; sessionId: string; expiresAt: Date }): Promise<void> {
    await this.#sql`
      insert into client_token_revocations (token_id, session_id, expires_at) values (${input.tokenId}, ${input.sessionId}, ${input.expiresAt.toISOString()})
      on conflict (token_id) do nothing`;
    await this.#notifyRevoked([input.tokenId]);
    await this.#sql`delete from client_token_revocations where expires_at < now()`;
  }

  /** True when a client token was revoked. */
  async clientTokenRevoked(tokenId: string): Promise<boolean> {
    const rows = await this.#sql`select 1 from client_token_revocations where token_id = ${tokenId}`;
    return rows.length > 0;
  }

  /** The team of a live API token, recording when it was last used. */
  async tokenTeam(token: string): Promise<{ tokenId: string; teamId: string } | undefined> {
    const [row] = await this.#sql<{ id: string; teamId: string; lastUsedAt: Date | null }[]>`
      select id, team_id as "teamId", last_used_at as "lastUsedAt" from api_tokens where token_hash = ${hashSecret(token)} and revoked_at is null`;
    if (!row) return undefined;
    if (!row.lastUsedAt || Date.now() - new Date(row.lastUsedAt).getTime() > TOKEN_TOUCH_MS) {
      await this.#sql`update api_tokens set last_used_at = now() where id = ${row.id}`;
    }
    return { tokenId: row.id, teamId: row.teamId };
  }

  /** Seconds until the first exceeded limit's window ends, or 0 when none is exceeded. */
  async #checkLimits(limits: Array<{ key: string; limit: number }>): Promise<number> {
    const rows = await this.#sql<{ key: string; count: number; windowStart: Date }[]>`
      select key, count, window_start as "windowStart" from rate_limits where key = any(${limits.map((l) => l.key)})`;
    for (const row of rows) {
      const limit = limits.find((l) => l.key === row.key)!.limit;
      const endsAt = new Date(row.windowStart).getTime() + LOGIN_WINDOW_MS;
      if (row.count >= limit && endsAt > Date.now()) return Math.max(1, Math.ceil((endsAt - Date.now()) / 1000));
    }
    return 0;
  }

  async #hit(key: string): Promise<void> {
    await this.#sql`
      insert into rate_limits (key, window_start, count) values (${key}, now(), 1)
      on conflict (key) do update set
        count = case when rate_limits.window_start < now() - make_interval(secs => ${LOGIN_WINDOW_MS / 1000}) then 1 else rate_limits.count + 1 end,
        window_start = case when rate_limits.window_start < now() - make_interval(secs => ${LOGIN_WINDOW_MS / 1000}) then now() else rate_limits.window_start end`;
  }
}
