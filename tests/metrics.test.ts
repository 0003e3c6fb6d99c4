import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import postgres from "postgres";
import { Accounts } from "../src/accounts/service";
import { Metrics } from "../src/infra/metrics";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { startFakeProviders, type FakeProviders } from "./support/fake-providers";
import { TestSocket } from "./support/ws";

let server: TestServer;
let fakes: FakeProviders;
let teamToken: string;

beforeAll(async () => {
  fakes = startFakeProviders();
  server = await startServer({ env: { ANTHROPIC_API_KEY: "sk-ant-test", ANTHROPIC_BASE_URL: fakes.anthropicUrl } });
  const sql = postgres(server.databaseUrl!, { max: 1, onnotice: () => {} });
  try {
    const accounts = new Accounts({ sql });
    const setup = await accounts.setup({ teamName: "Ops", name: "Olga", email: "olga@example.com", password: "correct horse battery" });
    if (!setup.ok) throw new Error("setup failed");
    teamToken = (await accounts.createApiToken(setup.user, "prometheus")).token;
  } finally {
    await sql.end();
  }
});

afterAll(async () => {
  await server?.stop();
  fakes?.stop();
});

/** Reads /metrics with `token` (`null`: with none). */
async function scrape(token: string | null = TEST_API_TOKEN): Promise<{ status: number; type: string | null; text: string }> {
  const response = await fetch(`${server.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, type: response.headers.get("content-type"), text: await response.text() };
}

/** The value of one sample line, e.g. `ds_runs{status="queued"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function api(path: string, body?: unknown): Promise<any> {
  const response = await server.fetch(path, { method: body === undefined ? "GET" : "POST", headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  expect(response.status).toBeLessThan(300);
  return response.json();
}

async function waitForRunEnd(sessionId: string, runId: string) {
  for (let i = 0; i < 200; i++) {
    const session = await api(`/api/sessions/${sessionId}`);
    const run = session.runs.find((r: { runId: string }) => r.runId === runId);
    if (run && !["queued", "running", "retrying"].includes(run.status)) return run.status as string;
    await Bun.sleep(50);
  }
  throw new Error(`run ${runId} did not end`);
}

describe("GET /metrics", () => {
  test("needs the bootstrap API token or a team API token", async () => {
    expect((await scrape(null)).status).toBe(401);
    expect((await scrape("not-a-token")).status).toBe(401);
    const session = await api("/api/sessions", {});
    const client = await scrape(session.clientToken);
    expect(client.status).toBe(401);
    expect(JSON.parse(client.text).error.code).toBe("unauthorized");
    expect((await scrape(TEST_API_TOKEN)).status).toBe(200);
    expect((await scrape(teamToken)).status).toBe(200);
  });

  test("is the Prometheus text format, with HELP and TYPE for each metric", async () => {
    const { type, text } = await scrape();
    expect(type).toStartWith("text/plain; version=0.0.4");
    for (const [name, kind] of [
      ["ds_websocket_connections", "gauge"],
      ["ds_websocket_subscriptions", "gauge"],
      ["ds_appends_total", "counter"],
      ["ds_append_batches_total", "counter"],
      ["ds_notify_lag_seconds", "gauge"],
      ["ds_job_queue_jobs", "gauge"],
      ["ds_runs", "gauge"],
      ["ds_run_duration_seconds", "histogram"],
      ["ds_provider_errors_total", "counter"],
    ]) {
      expect(text).toContain(`# HELP ${name} `);
      expect(text).toContain(`# TYPE ${name} ${kind}`);
    }
    expect(sample(text, `ds_info{role="all"}`)).toBe(1);
    // The probe NOTIFY came back through the LISTEN connection, quickly.
    const lag = sample(text, "ds_notify_lag_seconds")!;
    expect(lag).toBeGreaterThan(0);
    expect(lag).toBeLessThan(1);
    expect(sample(text, `ds_job_queue_jobs{queue="agent-run",state="queued"}`)).toBeNumber();
  });

  test("counts sockets, subscriptions and appends as they happen", async () => {
    const before = await scrape();
    const session = await api("/api/sessions", {});
    const socket = await TestSocket.open(`${server.url.replace("http", "ws")}/ws?token=${session.clientToken}`);
    await socket.request({ type: "subscribe", session: session.id, offset: "now" });
    const during = await scrape();
    expect(sample(during.text, "ds_websocket_connections")).toBe(sample(before.text, "ds_websocket_connections")! + 1);
    expect(sample(during.text, "ds_websocket_subscriptions")).toBe(sample(before.text, "ds_websocket_subscriptions")! + 1);
    for (let i = 0; i < 5; i++) await api(`/api/sessions/${session.id}/messages`, { text: `hello ${i}` });
    await socket.waitForEvents(session.id, 5);
    const after = await scrape();
    expect(sample(after.text, "ds_appends_total")! - sample(before.text, "ds_appends_total")!).toBeGreaterThanOrEqual(5);
    expect(sample(after.text, "ds_append_batches_total")!).toBeGreaterThan(sample(before.text, "ds_append_batches_total")!);
    await socket.close();
    for (let i = 0; i < 50 && sample((await scrape()).text, "ds_websocket_connections") !== sample(before.text, "ds_websocket_connections"); i++) await Bun.sleep(20);
    const closed = await scrape();
    expect(sample(closed.text, "ds_websocket_connections")).toBe(sample(before.text, "ds_websocket_connections")!);
    expect(sample(closed.text, "ds_websocket_subscriptions")).toBe(sample(before.text, "ds_websocket_subscriptions")!);
  });

  test("a session follower gets this process's appends with the wake-up and reads none of them back from the table", async () => {
    const session = await api("/api/sessions", {});
    const socket = await TestSocket.open(`${server.url.replace("http", "ws")}/ws?token=${session.clientToken}`);
    await socket.request({ type: "subscribe", session: session.id, offset: "now" });
    await Bun.sleep(100); // the follower's one look at the table when it starts
    const before = await scrape();
    const appends = 12;
    for (let i = 0; i < appends; i++) {
      await api(`/api/sessions/${session.id}/messages`, { text: `handed ${i}` });
      await socket.waitForEvents(session.id, i + 1);
    }
    const after = await scrape();
    const reads = sample(after.text, "ds_session_follower_reads_total")! - sample(before.text, "ds_session_follower_reads_total")!;
    const handed = sample(after.text, "ds_session_follower_handed_batches_total")! - sample(before.text, "ds_session_follower_handed_batches_total")!;
    // Each append woke the follower with its rows; at most a start-up read still in flight reads again.
    expect(handed).toBeGreaterThanOrEqual(appends - 1);
    expect(reads).toBeLessThanOrEqual(1);
    expect(socket.events(session.id).map((frame: any) => frame.event.text)).toEqual(Array.from({ length: appends }, (_, i) => `handed ${i}`));
    await socket.close();
  });

  test("records run durations by agent and status, and provider errors by provider and code", async () => {
    const session = await api("/api/sessions", {});
    const ok = await api(`/api/sessions/${session.id}/runs`, { agent: "chat", provider: "offline", input: { prompt: "hi" }, options: { tokens: 3, tokensPerSecond: 1000 } });
    expect(await waitForRunEnd(session.id, ok.runId)).toBe("completed");
    const failing = await api(`/api/sessions/${session.id}/runs`, { agent: "chat", provider: "anthropic", input: { prompt: "[fail:401] hello" } });
    expect(await waitForRunEnd(session.id, failing.runId)).toBe("failed");
    // The runs row is marked ended before run.end is appended: no wait.
    const { text } = await scrape();
    expect(sample(text, `ds_run_duration_seconds_count{agent="chat",status="completed"}`)).toBeGreaterThanOrEqual(1);
    expect(sample(text, `ds_run_duration_seconds_bucket{le="+Inf",agent="chat",status="completed"}`)).toBeGreaterThanOrEqual(1);
    expect(sample(text, `ds_run_duration_seconds_count{agent="chat",status="failed"}`)).toBeGreaterThanOrEqual(1);
    expect(sample(text, `ds_provider_errors_total{provider="anthropic",code="unauthorized"}`)).toBe(1);
    expect(sample(text, `ds_runs{status="running"}`)).toBe(0);
  });

  test("a run's duration is counted once, by the attempt that ended it: one that lost the run to a newer attempt counts nothing", async () => {
    const series = `ds_run_duration_seconds_count{agent="chat",status="completed"}`;
    const session = await api("/api/sessions", {});
    const run = await api(`/api/sessions/${session.id}/runs`, { agent: "chat", provider: "offline", input: { prompt: "hi" }, options: { tokens: 30, tokensPerSecond: 30 } });
    const sql = postgres(server.databaseUrl!, { max: 1, onnotice: () => {} });
    try {
      // While it streams, the run is taken for dead and given to a newer attempt (as the reaper does).
      for (let i = 0; i < 200; i++) {
        const [row] = await sql<{ status: string }[]>`select status from runs where id = ${run.runId}`;
        if (row?.status === "running") break;
        await Bun.sleep(20);
      }
      const [taken] = await sql`update runs set attempt = attempt + 1 where id = ${run.runId} and status = 'running' returning id`;
      expect(taken).toBeDefined();
      const before = sample((await scrape()).text, series) ?? 0;
      // The old attempt finishes its message, finds the row no longer its own, and leaves the end to the newer attempt.
      let ended = false;
      for (let i = 0; i < 300 && !ended; i++) {
        const { events } = await api(`/api/sessions/${session.id}/events?limit=1000`);
        ended = events.some((e: { event: { type: string } }) => e.event.type === "message.end");
        if (!ended) await Bun.sleep(20);
      }
      expect(ended).toBe(true);
      await Bun.sleep(300);
      expect(sample((await scrape()).text, series) ?? 0).toBe(before);
      const [row] = await sql<{ status: string }[]>`select status from runs where id = ${run.runId}`;
      expect(row?.status).toBe("running");
    } finally {
      await sql`update runs set status = 'cancelled', ended_at = now(), heartbeat_at = null where id = ${run.runId}`;
      await sql.end();
    }
  });
});

describe("Metrics registry (prom-client)", () => {
  test("renders counters, read-at-scrape gauges and cumulative histograms, escaping label values", async () => {
    const metrics = new Metrics();
    const counter = metrics.counter("t_events_total", "Events.", ["kind"]);
    counter.inc({ kind: 'a "quoted"\nvalue' });
    counter.inc({ kind: 'a "quoted"\nvalue' }, 2);
    metrics.gauge("t_depth", "Depth.", () => 7);
    metrics.gauge("t_roles", "Labelled, read at scrape.", async () => [{ labels: { role: "web" }, value: 1 }], ["role"]);
    metrics.counterFrom("t_kept_total", "Counted elsewhere.", () => 12);
    metrics.gauge("t_broken", "Fails to read.", () => {
      throw new Error("database down");
    });
    const histogram = metrics.histogram("t_seconds", "Durations.", [0.1, 1], ["agent"]);
    histogram.observe({ agent: "chat" }, 0.05);
    histogram.observe({ agent: "chat" }, 0.5);
    histogram.observe({ agent: "chat" }, 5);
    const text = await metrics.render();
    expect(text).toContain(`t_events_total{kind="a \\"quoted\\"\\nvalue"} 3`);
    expect(text).toContain("t_depth 7");
    expect(text).toContain(`t_roles{role="web"} 1`);
    expect(text).toContain("# TYPE t_kept_total counter\nt_kept_total 12");
    expect(text).toContain("# TYPE t_broken gauge");
    expect(text).not.toMatch(/^t_broken /m);
    // prom-client writes the bucket bound first.
    expect(text).toContain(`t_seconds_bucket{le="0.1",agent="chat"} 1`);
    expect(text).toContain(`t_seconds_bucket{le="1",agent="chat"} 2`);
    expect(text).toContain(`t_seconds_bucket{le="+Inf",agent="chat"} 3`);
    expect(text).toContain(`t_seconds_sum{agent="chat"} 5.55`);
    expect(text).toContain(`t_seconds_count{agent="chat"} 3`);
    expect(() => counter.inc({ other: "x" })).toThrow();
    expect(() => metrics.gauge("t_depth", "again", () => 1)).toThrow();
  });
});
