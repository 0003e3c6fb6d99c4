import { describe, test, expect, afterAll, beforeAll } from "bun:test";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";
import { TestSocket } from "./support/ws";

const sockets: TestSocket[] = [];
let server: TestServer;
beforeAll(async () => {
  server = await startServer();
}, 60_000);
afterAll(async () => {
  for (const socket of sockets) socket.ws.close();
  await server?.stop();
});

async function api(method: string, path: string, body?: unknown) {
  const res = await server.fetch(path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
async function subscribe(id: string) {
  const ws = await TestSocket.open(`${server.url.replace("http", "ws")}/ws?token=${TEST_API_TOKEN}`);
  sockets.push(ws);
  await ws.request({ type: "subscribe", session: id, offset: "-1" });
  return ws;
}
/** A request with another token (a client token). */
async function as(token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
const runEnd = (ws: TestSocket, id: string, runId: string) => ws.waitFor((f) => f.session === id && f.event?.type === "run.end" && f.event.runId === runId, 20_000).then((f) => f.event);
const messages = async (id: string) => (await api("GET", `/api/sessions/${id}/messages`)).body.messages as Array<{ id: string; role: string; text: string; status: string }>;

describe("branches", () => {
  test("edit a user message and regenerate an answer: each makes a forked branch; list and switch", async () => {
    const root = (await api("POST", "/api/sessions", { title: "branches", agent: "chat", provider: "offline", options: { tokens: 12, tokensPerSecond: 400 }, doubleTexting: "enqueue" })).body.id as string;
    const ws = await subscribe(root);
    const first = (await api("POST", `/api/sessions/${root}/messages`, { text: "Tell me about tulips", id: "m1" })).body;
    await runEnd(ws, root, first.runId);
    const second = (await api("POST", `/api/sessions/${root}/messages`, { text: "And about volcanoes", id: "m2" })).body;
    await runEnd(ws, root, second.runId);
    const original = await messages(root);
    expect(original.map((m) => m.id).slice(0, 1)).toEqual(["m1"]);
    expect(original).toHaveLength(4);

    // Edit m2: the branch keeps m1 and its answer, then the edited message and a new answer.
    const edited = await api("POST", `/api/sessions/${root}/branches`, { messageId: "m2", text: "And about lighthouses" });
    expect(edited.status).toBe(201);
    expect([edited.body.rootId, edited.body.parentId, typeof edited.body.runId]).toEqual([root, root, "string"]);
    const editWs = await subscribe(edited.body.id);
    expect((await runEnd(editWs, edited.body.id, edited.body.runId)).status).toBe("completed");
    const editBranch = await messages(edited.body.id);
    expect(editBranch.slice(0, 2)).toEqual(original.slice(0, 2));
    expect(editBranch[2]).toMatchObject({ role: "user", text: "And about lighthouses" });
    expect(editBranch[3]).toMatchObject({ role: "assistant", status: "complete" });
    expect(editBranch[3]!.text).toContain("lighthouses");
    expect(editBranch.some((m) => m.id === "m2")).toBe(false);

    // Regenerate the first answer: the branch keeps m1 only and answers it again.
    const regenerated = await api("POST", `/api/sessions/${root}/branches`, { messageId: original[1]!.id });
    expect(regenerated.status).toBe(201);
    expect(regenerated.body.messageId).toBe("m1");
    const regenWs = await subscribe(regenerated.body.id);
    await runEnd(regenWs, regenerated.body.id, regenerated.body.runId);
    const regenBranch = await messages(regenerated.body.id);
    expect(regenBranch.map((m) => m.role)).toEqual(["user", "assistant"]);
    expect(regenBranch[0]).toEqual(original[0]);
    expect(regenBranch[1]!.id).not.toBe(original[1]!.id);
    expect(regenBranch[1]!.text).toContain("tulips");

    // The root is unchanged, and its log records the branches.
    expect(await messages(root)).toEqual(original);
    const created = ws.events(root).map((f) => f.event).filter((e) => e.type === "branch.created");
    expect(created.map((e) => [e.branchId, e.reason])).toEqual([[edited.body.id, "edit"], [regenerated.body.id, "regenerate"]]);

    // The tree, and switching which branch the conversation follows.
    const tree = (await api("GET", `/api/sessions/${edited.body.id}/branches`)).body;
    expect(tree).toMatchObject({ rootId: root, current: root });
    expect(tree.branches.map((b: any) => [b.id, b.parentId, b.fromMessageId])).toEqual([[root, null, null], [edited.body.id, root, "m2"], [regenerated.body.id, root, original[1]!.id]]);
    const switched = await api("POST", `/api/sessions/${root}/branches/${edited.body.id}/switch`);
    expect(switched.status).toBe(200);
    expect((await api("GET", `/api/sessions/${root}/branches`)).body.current).toBe(edited.body.id);
    await ws.waitFor((f) => f.event?.type === "branch.switched" && f.event.branchId === edited.body.id);
    // A branch of a branch belongs to the same tree.
    const nested = await api("POST", `/api/sessions/${edited.body.id}/branches`, { messageId: "m1", text: "Tell me about roses" });
    expect(nested.body).toMatchObject({ rootId: root, parentId: edited.body.id });
  }, 60_000);

  test("bad branch requests: unknown message, editing an answer, unknown branch, client tokens", async () => {
    const created = (await api("POST", "/api/sessions", { agent: "chat", provider: "offline", options: { tokens: 5, tokensPerSecond: 400 } })).body;
    const ws = await subscribe(created.id);
    const posted = (await api("POST", `/api/sessions/${created.id}/messages`, { text: "hello there", id: "h1" })).body;
    await runEnd(ws, created.id, posted.runId);
    const answer = (await messages(created.id))[1]!;
    expect((await api("POST", `/api/sessions/${created.id}/branches`, { messageId: "nope" })).status).toBe(404);
    const editAnswer = await api("POST", `/api/sessions/${created.id}/branches`, { messageId: answer.id, text: "x" });
    expect(editAnswer.status).toBe(400);
    expect(editAnswer.body.error.code).toBe("not_a_user_message");
    expect((await api("POST", `/api/sessions/${created.id}/branches/ses_unknown/switch`)).status).toBe(404);
    // A client token without publish may not branch or switch; one of another conversation sees nothing.
    const readOnly = (await api("POST", `/api/sessions/${created.id}/client-tokens`, { capabilities: ["read"] })).body.clientToken as string;
    expect((await as(readOnly, "POST", `/api/sessions/${created.id}/branches`, { messageId: "h1" })).status).toBe(403);
    expect((await as(readOnly, "POST", `/api/sessions/${created.id}/branches/${created.id}/switch`)).status).toBe(403);
    const stranger = (await api("POST", "/api/sessions", { agent: "chat", provider: "offline" })).body.clientToken as string;
    expect((await as(stranger, "POST", `/api/sessions/${created.id}/branches`, { messageId: "h1" })).status).toBe(404);
    expect((await as(stranger, "GET", `/api/sessions/${created.id}/branches`)).status).toBe(404);
    expect((await api("GET", `/api/sessions/${created.id}/branches`)).body.branches).toHaveLength(1);
  }, 60_000);

  test("a client token branches and switches; its token reads the whole tree; subscribers are told which branch is followed", async () => {
    const created = (await api("POST", "/api/sessions", { agent: "chat", provider: "offline", options: { tokens: 6, tokensPerSecond: 400 }, doubleTexting: "enqueue" })).body as { id: string; clientToken: string; clientId: string };
    const root = created.id;
    const token = created.clientToken;
    const ws = await subscribe(root);
    // A plain session has no branch field on its ack.
    expect(ws.frames.find((f) => f.type === "subscribed" && f.session === root).branch).toBeUndefined();
    const posted = (await as(token, "POST", `/api/sessions/${root}/messages`, { text: "Tell me about tulips", id: "t1" })).body;
    await runEnd(ws, root, posted.runId);
    // The client edits its message: a branch answered in a turn that is the client's own.
    const edited = await as(token, "POST", `/api/sessions/${root}/branches`, { messageId: posted.messageId, text: "Tell me about orchids" });
    expect(edited.status).toBe(201);
    const branch = edited.body.id as string;
    // The same client token reads and follows the branch (its conversation), over HTTP and /ws.
    const clientWs = await TestSocket.open(`${server.url.replace("http", "ws")}/ws?token=${encodeURIComponent(token)}`);
    sockets.push(clientWs);
    const ack = await clientWs.request({ type: "subscribe", session: branch, offset: "-1" });
    expect(ack.type).toBe("subscribed");
    expect(ack.branch).toEqual({ rootId: root, current: root });
    expect((await runEnd(clientWs, branch, edited.body.runId)).status).toBe("completed");
    const branchMessages = (await as(token, "GET", `/api/sessions/${branch}/messages`)).body.messages;
    expect(branchMessages[0]).toMatchObject({ role: "user", text: "Tell me about orchids" });
    expect(branchMessages[0].id.startsWith(`${created.clientId}:`)).toBe(true);
    expect((await fetch(`${server.url}/v1/stream/sessions/${branch}?offset=-1&token=${encodeURIComponent(token)}`)).status).toBe(200);
    // The turn is the client's: its own-scope cancel may name it.
    const runs = (await as(token, "GET", `/api/sessions/${branch}`)).body.runs;
    expect(runs.at(-1).runId).toBe(edited.body.runId);
    // Switching (from the branch) tells every session of the tree, and new subscribers see it in their ack.
    const switched = await as(token, "POST", `/api/sessions/${branch}/branches/${branch}/switch`);
    expect(switched.status).toBe(200);
    expect(switched.body.current).toBe(branch);
    for (const [socket, session] of [[ws, root], [clientWs, branch]] as const) {
      const event = await socket.waitFor((f) => f.session === session && f.event?.type === "branch.switched");
      expect(event.event).toEqual({ type: "branch.switched", branchId: branch, rootId: root });
    }
    expect(clientWs.events(branch).find((f) => f.event.type === "branch.switched").offset).toBe(switched.body.offset);
    const late = await subscribe(root);
    expect(late.frames.find((f) => f.type === "subscribed" && f.session === root).branch).toEqual({ rootId: root, current: branch });
    const snapshotAck = await late.request({ type: "subscribe", session: branch, mode: "snapshot" });
    expect(snapshotAck.branch).toEqual({ rootId: root, current: branch });
    expect((await as(token, "GET", `/api/sessions/${root}/branches`)).body.current).toBe(branch);
  }, 60_000);
});
