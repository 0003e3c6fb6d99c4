/**
 * The official Durable Streams clients, unchanged, against our `/v1/stream/*`: if these pass, an
 * engineer on `@durable-streams/client` or `@durable-streams/aisdk-transport` can point the URL at
 * us and keep every line of their code.
 */
import { describe, test, expect, beforeAll, afterAll } from "bun:test";
import { DurableStream, FetchError, IdempotentProducer, StaleEpochError, StreamClosedError, stream, type JsonBatch, type StreamResponse } from "@durable-streams/client";
import { createDurableChatTransport, toDurableStreamResponse } from "@durable-streams/aisdk-transport";
import { createUIMessageStream, readUIMessageStream, type UIMessage, type UIMessageChunk } from "ai";
import { startServer, TEST_API_TOKEN, type TestServer } from "./support/server";

/** How long a live read may take to deliver what was appended after it subscribed. */
const LIVE_DELIVERY_TIMEOUT_MS = 10_000;

const started: TestServer[] = [];
afterAll(async () => {
  for (const server of started) await server.stop();
}, 60_000);

async function start(options: Parameters<typeof startServer>[0] = {}) {
  const server = await startServer(options);
  started.push(server);
  return server;
}

type Event = { n: number; text: string };
const event = (n: number): Event => ({ n, text: `event ${n}` });

/** Everything in the stream from `offset` (default: the start), read as a catch-up with no live tail. */
async function catchUp<T>(url: string, options: { offset?: string; headers?: Record<string, string> } = {}) {
  const res = await stream<T>({ url, live: false, ...options });
  const items = await res.json();
  return { items, offset: res.offset, streamClosed: res.streamClosed };
}

/**
 * Subscribes to `res` and resolves once `count` items have arrived (or the stream closed), with the
 * non-empty batches in order; rejects if they do not arrive in time.
 */
function collect<T>(res: StreamResponse<T>, count: number): Promise<JsonBatch<T>[]> {
  return new Promise((resolve, reject) => {
    const batches: JsonBatch<T>[] = [];
    let seen = 0;
    const timer = setTimeout(() => reject(new Error(`only ${seen} of ${count} items arrived within ${LIVE_DELIVERY_TIMEOUT_MS} ms`)), LIVE_DELIVERY_TIMEOUT_MS);
    res.subscribeJson((batch) => {
      if (batch.items.length > 0 || batch.streamClosed) batches.push(batch);
      seen += batch.items.length;
      if (seen >= count || batch.streamClosed) {
        clearTimeout(timer);
        resolve(batches);
      }
    });
  });
}

/**
 * The final offset an append-to-closed-stream error reports. Client 0.2.7 means to throw
 * StreamClosedError, but its retry wrapper throws a FetchError(409) first, carrying the same headers.
 */
function closedAt(error: unknown): string | undefined {
  if (error instanceof StreamClosedError) return error.finalOffset;
  if (error instanceof FetchError && error.status === 409 && error.headers["stream-closed"] === "true") return error.headers["stream-next-offset"];
  return undefined;
}

/** A `fetch` that remembers the `live` mode of every read it sends, to prove which transport a client used. */
function recordingLiveModes(into: Array<string | null>): typeof fetch {
  return ((input: RequestInfo | URL, init?: RequestInit) => {
    into.push(new URL(input instanceof Request ? input.url : String(input)).searchParams.get("live"));
    return fetch(input, init);
  }) as typeof fetch;
}

describe("@durable-streams/client", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start({ env: { STREAMS_AUTH: "off" } });
  }, 60_000);
  const urlFor = (name: string) => `${server.url}/v1/stream/clients/${name}`;

  test("creates a JSON stream and appends with the plain API, in order", async () => {
    const url = urlFor("plain");
    const handle = await DurableStream.create({ url, contentType: "application/json" });
    expect(handle.contentType).toBe("application/json");

    await handle.append(JSON.stringify(event(1)));
    // Overlapping appends are batched by the client into one JSON-array POST; the server must flatten it.
    await Promise.all([2, 3, 4].map((n) => handle.append(JSON.stringify(event(n)))));

    const head = await handle.head();
    expect(head).toMatchObject({ exists: true, contentType: "application/json", streamClosed: false });
    const read = await catchUp<Event>(url);
    expect(read.items).toEqual([event(1), event(2), event(3), event(4)]);
    expect(read.offset).toBe((head as { offset: string }).offset);
    expect(read.streamClosed).toBe(false);

    // Creating again with the same configuration is idempotent and keeps the data.
    await DurableStream.create({ url, contentType: "application/json" });
    expect((await catchUp<Event>(url)).items).toHaveLength(4);
  });

  test("the idempotent producer writes exactly once, even when a request is retried", async () => {
    const url = urlFor("producer");
    const handle = await DurableStream.create({ url, contentType: "application/json" });

    // The first response is "lost" on the way back, so the very same request goes out again;
    // the server must answer the replay 204 (duplicate) and store nothing twice.
    const statuses: number[] = [];
    let replayed = false;
    const lossyFetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const first = await fetch(input, init);
      statuses.push(first.status);
      if (replayed) return first;
      replayed = true;
      await first.body?.cancel();
      const retry = await fetch(input, init);
      statuses.push(retry.status);
      return retry;
    }) as typeof fetch;
    const errors: Error[] = [];
    const producer = new IdempotentProducer(handle, "ingest-1", { fetch: lossyFetch, onError: (error) => errors.push(error) });

    producer.append(JSON.stringify(event(1)));
    producer.append(JSON.stringify(event(2)));
    await producer.flush();
    producer.append(JSON.stringify(event(3)));
    await producer.flush();

    expect(errors).toEqual([]);
    expect(statuses).toEqual([200, 204, 200]);
    expect(producer.epoch).toBe(0);
    expect(producer.nextSeq).toBe(2);
    expect((await catchUp<Event>(url)).items).toEqual([event(1), event(2), event(3)]);
    await producer.detach();
  });

  test("a producer restarted with a higher epoch fences the old one; autoClaim takes the next epoch", async () => {
    const url = urlFor("epochs");
    const handle = await DurableStream.create({ url, contentType: "application/json" });

    const zombieErrors: Error[] = [];
    const zombie = new IdempotentProducer(handle, "worker", { epoch: 0, onError: (error) => zombieErrors.push(error) });
    zombie.append(JSON.stringify(event(1)));
    await zombie.flush();

    const successor = new IdempotentProducer(handle, "worker", { epoch: 1 });
    successor.append(JSON.stringify(event(2)));
    await successor.flush();

    zombie.append(JSON.stringify({ n: -1, text: "from the fenced producer" }));
    await zombie.flush();
    expect(zombieErrors).toHaveLength(1);
    expect(zombieErrors[0]).toBeInstanceOf(StaleEpochError);
    expect((zombieErrors[0] as StaleEpochError).currentEpoch).toBe(1);

    // A fresh instance that does not know the epoch claims current + 1 on its first 403.
    const claimer = new IdempotentProducer(handle, "worker", { epoch: 0, autoClaim: true });
    claimer.append(JSON.stringify(event(3)));
    await claimer.flush();
    expect(claimer.epoch).toBe(2);

    // restart() bumps the epoch itself and starts the sequence again at 0.
    await claimer.restart();
    expect(claimer.epoch).toBe(3);
    expect(claimer.nextSeq).toBe(0);
    claimer.append(JSON.stringify(event(4)));
    await claimer.flush();

    expect((await catchUp<Event>(url)).items).toEqual([event(1), event(2), event(3), event(4)]);
    await Promise.all([zombie.detach(), successor.detach(), claimer.detach()]);
  });

  test("a long-poll reader receives what is appended after it subscribed", async () => {
    const url = urlFor("long-poll");
    const handle = await DurableStream.create({ url, contentType: "application/json" });
    await handle.append(JSON.stringify(event(1)));
    const { offset: tail } = await catchUp<Event>(url);

    const modes: Array<string | null> = [];
    const res = await stream<Event>({ url, offset: tail, live: "long-poll", fetch: recordingLiveModes(modes) });
    const arrived = collect(res, 2);
    await Bun.sleep(100); // let the long-poll park on the server before anything is appended
    await handle.append(JSON.stringify(event(2)));
    await handle.append(JSON.stringify(event(3)));
    const batches = await arrived;
    res.cancel();

    expect(batches.flatMap((batch) => batch.items)).toEqual([event(2), event(3)]);
    expect(modes).toContain("long-poll");
    expect(modes).not.toContain("sse");
    const head = await handle.head();
    expect(batches.at(-1)!.offset).toBe((head as { offset: string }).offset);
  });

  test("an SSE reader receives what is appended after it subscribed", async () => {
    const url = urlFor("sse");
    const handle = await DurableStream.create({ url, contentType: "application/json" });
    await handle.append(JSON.stringify(event(1)));

    const modes: Array<string | null> = [];
    const res = await stream<Event>({ url, offset: "now", live: "sse", fetch: recordingLiveModes(modes) });
    const arrived = collect(res, 3);
    await Bun.sleep(100);
    await handle.append(JSON.stringify(event(2)));
    await Promise.all([3, 4].map((n) => handle.append(JSON.stringify(event(n)))));
    const batches = await arrived;
    res.cancel();

    expect(batches.flatMap((batch) => batch.items)).toEqual([event(2), event(3), event(4)]);
    expect(batches.every((batch) => !batch.streamClosed)).toBe(true);
    expect(modes).toContain("sse");
    expect(modes).not.toContain("long-poll");
  });

  test("a reader resumes from a saved offset and sees only what came after it", async () => {
    const url = urlFor("resume");
    const handle = await DurableStream.create({ url, contentType: "application/json" });
    for (const n of [1, 2]) await handle.append(JSON.stringify(event(n)));

    const first = await catchUp<Event>(url);
    expect(first.items).toEqual([event(1), event(2)]);
    const saved = first.offset;

    for (const n of [3, 4, 5]) await handle.append(JSON.stringify(event(n)));
    expect((await catchUp<Event>(url, { offset: saved })).items).toEqual([event(3), event(4), event(5)]);

    // Resuming live (SSE, the default for JSON) from the saved offset: catch-up first, then the tail.
    const res = await stream<Event>({ url, offset: saved, live: true });
    const arrived = collect(res, 4);
    await Bun.sleep(100);
    await handle.append(JSON.stringify(event(6)));
    const batches = await arrived;
    res.cancel();
    expect(batches.flatMap((batch) => batch.items)).toEqual([event(3), event(4), event(5), event(6)]);

    // Resuming at the very end yields nothing.
    const end = await catchUp<Event>(url);
    expect((await catchUp<Event>(url, { offset: end.offset })).items).toEqual([]);
  });

  test("closing the stream ends live readers, keeps the data, and refuses further appends", async () => {
    const url = urlFor("close");
    const handle = await DurableStream.create({ url, contentType: "application/json" });
    await handle.append(JSON.stringify(event(1)));
    const { offset: tail } = await catchUp<Event>(url);

    const sse = await stream<Event>({ url, offset: tail, live: "sse" });
    const sseEnd = collect(sse, Number.POSITIVE_INFINITY);
    const longPoll = await stream<Event>({ url, offset: tail, live: "long-poll" });
    const longPollEnd = collect(longPoll, Number.POSITIVE_INFINITY);
    await Bun.sleep(100);

    const { finalOffset } = await handle.close({ body: JSON.stringify(event(2)) });
    for (const batches of [await sseEnd, await longPollEnd]) {
      expect(batches.flatMap((batch) => batch.items)).toEqual([event(2)]);
      expect(batches.at(-1)!.streamClosed).toBe(true);
      expect(batches.at(-1)!.offset).toBe(finalOffset);
    }
    await Promise.all([sse.closed, longPoll.closed]);

    const head = await handle.head();
    expect(head).toMatchObject({ exists: true, streamClosed: true, offset: finalOffset });
    expect(await catchUp<Event>(url)).toEqual({ items: [event(1), event(2)], offset: finalOffset, streamClosed: true });

    // Closing again without a body is idempotent; appending is refused with the final offset.
    expect((await handle.close()).finalOffset).toBe(finalOffset);
    const refused = await handle.append(JSON.stringify(event(3))).catch((error: unknown) => error);
    expect(closedAt(refused)).toBe(finalOffset);
  });

  test("the idempotent producer closes the stream with a final message, and a retried close is a no-op", async () => {
    const url = urlFor("producer-close");
    const handle = await DurableStream.create({ url, contentType: "application/json" });
    const producer = new IdempotentProducer(handle, "closer");
    producer.append(JSON.stringify(event(1)));
    const closed = await producer.close(JSON.stringify({ n: 2, text: "done" }));
    expect(await producer.close(JSON.stringify({ n: 2, text: "done" }))).toEqual(closed);

    // A second instance replaying the same close request (same id, epoch, seq) is deduplicated.
    const replay = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "producer-id": "closer", "producer-epoch": "0", "producer-seq": "1", "stream-closed": "true" },
      body: JSON.stringify([{ n: 2, text: "done" }]),
    });
    expect(replay.status).toBe(204);
    expect(replay.headers.get("stream-next-offset")).toBe(closed.finalOffset);

    expect(await catchUp<Event>(url)).toEqual({ items: [event(1), { n: 2, text: "done" }], offset: closed.finalOffset, streamClosed: true });
  });
});

describe("@durable-streams/aisdk-transport", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start({ env: { STREAMS_AUTH: "off" } });
  }, 60_000);

  const API = "http://app.test/api/chat";
  const WORDS = ["Hello", ", ", "durable", " ", "world", "!"];
  const userMessage: UIMessage = { id: "user-1", role: "user", parts: [{ type: "text", text: "Say hello" }] };

  /** An assistant reply built with the AI SDK's own stream helpers: no model, no network. */
  function reply(messageId: string): ReadableStream<UIMessageChunk> {
    return createUIMessageStream({
      execute: async ({ writer }) => {
        writer.write({ type: "start", messageId });
        writer.write({ type: "text-start", id: "text-1" });
        for (const delta of WORDS) {
          await Bun.sleep(10); // a generation in progress: the reader attaches before it is done
          writer.write({ type: "text-delta", id: "text-1", delta });
        }
        writer.write({ type: "text-end", id: "text-1" });
        writer.write({ type: "finish" });
      },
    });
  }

  /** Passes `source` through, remembering every chunk in `into`. */
  async function* recording<T>(source: AsyncIterable<T>, into: T[]) {
    for await (const chunk of source) {
      into.push(chunk);
      yield chunk;
    }
  }

  /**
   * The app's chat route, as the package README writes it, served in-process through the
   * transport's `fetchClient`: POST writes the reply into our server, GET .../stream points back at it.
   */
  function chatApp(written: Map<string, UIMessageChunk[]>, generations: Promise<unknown>[]): typeof fetch {
    return (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(String(input));
      if (init?.method === "POST" && url.pathname === "/api/chat") {
        const body = JSON.parse(String(init.body)) as { id: string; messages: UIMessage[]; trigger: string };
        expect(body.messages).toEqual([userMessage]);
        expect(body.trigger).toBe("submit-message");
        const chunks: UIMessageChunk[] = [];
        written.set(body.id, chunks);
        return toDurableStreamResponse({
          source: recording(reply(`assistant-${body.id}`), chunks),
          stream: { writeUrl: `${server.url}/v1/stream/chats/${body.id}` },
          waitUntil: (generation) => generations.push(generation),
        });
      }
      const reconnect = /^\/api\/chat\/([^/]+)\/stream$/.exec(url.pathname);
      if (reconnect) {
        const streamUrl = `${server.url}/v1/stream/chats/${reconnect[1]}`;
        return Response.json({ streamUrl }, { headers: { location: streamUrl } });
      }
      return new Response(null, { status: 404 });
    }) as typeof fetch;
  }

  async function lastMessage(chunks: ReadableStream<UIMessageChunk>): Promise<UIMessage | undefined> {
    let last: UIMessage | undefined;
    for await (const message of readUIMessageStream({ stream: chunks })) last = message;
    return last;
  }

  test("a UI message stream written by toDurableStreamResponse reassembles through the durable chat transport", async () => {
    const written = new Map<string, UIMessageChunk[]>();
    const generations: Promise<unknown>[] = [];
    const transport = createDurableChatTransport({ api: API, fetchClient: chatApp(written, generations) });

    const chunks = await transport.sendMessages({ trigger: "submit-message", chatId: "chat-1", messageId: undefined, messages: [userMessage], abortSignal: undefined });
    const message = await lastMessage(chunks);
    await Promise.all(generations);

    expect(message).toEqual({ id: "assistant-chat-1", role: "assistant", parts: [{ type: "text", text: "Hello, durable world!", state: "done" }] });

    // The durable stream holds exactly what the AI SDK produced, in order, and is closed.
    const streamUrl = `${server.url}/v1/stream/chats/chat-1`;
    const stored = await catchUp<UIMessageChunk>(streamUrl);
    expect(written.get("chat-1")!.map((chunk): string => chunk.type)).toEqual(["start", "text-start", ...WORDS.map(() => "text-delta"), "text-end", "finish"]);
    expect(stored.items).toEqual(written.get("chat-1")!);
    expect(stored.streamClosed).toBe(true);

    // After a refresh, useChat's resume calls reconnectToStream: the whole reply replays from the start.
    const resumed = await transport.reconnectToStream({ chatId: "chat-1" });
    expect(resumed).not.toBeNull();
    expect(await lastMessage(resumed!)).toEqual(message);
  });
});

describe("with STREAMS_AUTH on", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start();
  }, 60_000);
  const headers = { Authorization: `Bearer ${TEST_API_TOKEN}` };

  test("a request without a token gets 401 with a JSON error body", async () => {
    for (const [method, authorization] of [["PUT", undefined], ["GET", undefined], ["GET", "Bearer not-the-token"]] as const) {
      const res = await fetch(`${server.url}/v1/stream/private/refused`, { method, headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toStartWith("application/json");
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
      const body = await res.json();
      expect(body.error.code).toBe("unauthorized");
      expect(body.error.message).toContain("Authorization: Bearer");
    }
    // Nothing was created by the refused PUT.
    expect((await server.fetch("/v1/stream/private/refused", { method: "HEAD" })).status).toBe(404);
  });

  test("the client without the header is refused; with it, create, produce, read live and close all work", async () => {
    const url = `${server.url}/v1/stream/private/events`;
    const refused = await DurableStream.create({ url, contentType: "application/json" }).catch((error: unknown) => error);
    expect((refused as { status?: number }).status).toBe(401);

    const handle = await DurableStream.create({ url, headers, contentType: "application/json" });
    await handle.append(JSON.stringify(event(1)));
    const producer = new IdempotentProducer(handle, "private-writer");
    producer.append(JSON.stringify(event(2)));
    await producer.flush();

    const live = await stream<Event>({ url, headers, offset: "-1", live: "sse" });
    const arrived = collect(live, 3);
    await Bun.sleep(100);
    await handle.append(JSON.stringify(event(3)));
    const batches = await arrived;
    live.cancel();
    expect(batches.flatMap((batch) => batch.items)).toEqual([event(1), event(2), event(3)]);

    const { finalOffset } = await producer.close();
    expect(await catchUp<Event>(url, { headers })).toEqual({ items: [event(1), event(2), event(3)], offset: finalOffset, streamClosed: true });
    const unauthenticatedRead = await stream({ url, live: false }).catch((error: unknown) => error);
    expect((unauthenticatedRead as { status?: number }).status).toBe(401);
  });
});
