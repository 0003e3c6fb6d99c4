/**
 * A load-generator process holding many subscribers (WebSocket, SSE or long-poll), driven by the
 * harness over Bun's IPC channel (see bench/clients/pool.ts). Subscribers never run in the server's
 * process; past a number of sockets per process (SUBSCRIBERS_PER_CLIENT_PROCESS in
 * bench/sections/websocket.ts, chosen by measuring CPU per delivery) the harness spreads them over
 * several of these.
 *
 * Every message the harness appends carries its sequence number and the wall-clock time it was
 * sent (`epochMs()`, comparable across processes); each delivery's latency is the time from then
 * to this process having the frame.
 */
import { readSse } from "../sse-reader";
import { epochMs, inParallel } from "../ours";

/** Sockets opening at once; more only makes the server's accept queue and our event loop the bottleneck. */
const OPENING_CONCURRENCY = 200;
/** A socket that has not opened (and, when asked, been subscribed) by then counts as failed. */
const OPEN_TIMEOUT_MS = 20_000;

export type Command =
  | {
      op: "ws";
      url: string;
      /** One socket per entry; `session` set: subscribe to it at the tail (`offset: "now"`). */
      sockets: Array<{ token: string; session?: string }>;
      /** Messages with a lower sequence number are warm-up: received but not counted. */
      warmupSeq: number;
    }
  | ReadersCommand
  | { op: "peek" }
  | { op: "collect" }
  | { op: "close" };

/** SSE or long-poll readers on one stream. */
export interface ReadersCommand {
  op: "sse" | "long-poll";
  streamUrl: string;
  readers: number;
  warmupSeq: number;
}

export type Reply =
  | { op: "ready"; opened: number; failed: number; firstError?: string }
  | { op: "count"; received: number }
  | { op: "samples"; latencies: number[]; seqs: number[]; received: number; duplicates: number; closedEarly: number; firstClose?: string; cpuMs: number }
  | { op: "closed" };

interface Tally {
  latencies: number[];
  /** The message each latency is of (same index), so the harness can tell an append's first delivery from its last. */
  seqs: number[];
  received: number;
  duplicates: number;
  closedEarly: number;
  firstClose?: string;
}

let tally: Tally = { latencies: [], seqs: [], received: 0, duplicates: 0, closedEarly: 0 };
const sockets: WebSocket[] = [];
const aborts: AbortController[] = [];
let closing = false;

/** Records one delivery of message `seq` sent at `sentMs`; `last` is the reader's previous sequence number. */
function deliver(seq: number, sentMs: number, last: { seq: number }, warmupSeq: number, now: number) {
  if (seq <= last.seq) {
    tally.duplicates++;
    return;
  }
  last.seq = seq;
  if (seq < warmupSeq) return;
  tally.received++;
  tally.latencies.push(now - sentMs);
  tally.seqs.push(seq);
}

function openSockets(command: Extract<Command, { op: "ws" }>): Promise<Reply> {
  let opened = 0;
  let failed = 0;
  let firstError: string | undefined;
  const fail = (message: string) => {
    failed++;
    firstError ??= message;
  };
  return inParallel(command.sockets.length, OPENING_CONCURRENCY, async (index) => {
    const { token, session } = command.sockets[index]!;
    const ws = new WebSocket(`${command.url}?token=${encodeURIComponent(token)}&device=bench`);
    sockets.push(ws);
    const last = { seq: -1 };
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ${session ? "subscribed" : "open"} within ${OPEN_TIMEOUT_MS / 1000} s`)), OPEN_TIMEOUT_MS);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      ws.addEventListener("open", () => {
        if (!session) return done();
        ws.send(JSON.stringify({ type: "subscribe", session, offset: "now", id: "sub" }));
      });
      ws.addEventListener("message", (event) => {
        const now = epochMs();
        const text = String(event.data);
        // Only event frames are timed. The writer's events end in `"text":"<seq> <sent>"}}`: reading
        // those two numbers instead of parsing the frame keeps the client's CPU out of the figures.
        if (text.startsWith(`{"type":"event"`)) {
          const at = text.lastIndexOf(`"text":"`);
          const [seq, sent] = text.slice(at + 8, text.indexOf(`"`, at + 8)).split(" ").map(Number);
          if (at >= 0 && Number.isFinite(seq) && Number.isFinite(sent)) deliver(seq!, sent!, last, command.warmupSeq, now);
          return;
        }
        if (session && text.startsWith(`{"type":"subscribed"`)) done();
        else if (text.startsWith(`{"type":"error"`)) {
          clearTimeout(timer);
          reject(new Error(`error frame: ${text.slice(0, 200)}`));
        }
      });
      ws.addEventListener("close", (event) => {
        clearTimeout(timer);
        if (!closing) {
          tally.closedEarly++;
          tally.firstClose ??= `closed ${event.code} ${event.reason}`.trim();
        }
        reject(new Error(`closed (${event.code}) before it was ready`));
      });
    });
    try {
      await ready;
      opened++;
    } catch (error) {
      fail((error as Error).message);
    }
  }).then(() => ({ op: "ready", opened, failed, ...(firstError ? { firstError } : {}) }));
}

/** SSE readers at the tail; ready once each has its first control event. */
async function openSse(command: ReadersCommand): Promise<Reply> {
  let opened = 0;
  let failed = 0;
  let firstError: string | undefined;
  await Promise.all(
    Array.from({ length: command.readers }, () =>
      new Promise<void>((resolve) => {
        const abort = new AbortController();
        aborts.push(abort);
        const last = { seq: -1 };
        let connected = false;
        const timer = setTimeout(() => finish(`no control event within ${OPEN_TIMEOUT_MS / 1000} s`), OPEN_TIMEOUT_MS);
        function finish(error?: string) {
          clearTimeout(timer);
          if (connected) return;
          connected = true;
          if (error) {
            failed++;
            firstError ??= error;
          } else opened++;
          resolve();
        }
        fetch(`${command.streamUrl}?offset=now&live=sse`, { signal: abort.signal })
          .then(async (response) => {
            if (response.status !== 200 || !response.body) return finish(`SSE GET → ${response.status}`);
            await readSse(response.body, (event) => {
              const now = epochMs();
              if (event.event === "control") return finish();
              if (event.event !== "data") return;
              for (const message of JSON.parse(event.data) as Array<{ i: number; t: number }>) deliver(message.i, message.t, last, command.warmupSeq, now);
            });
          })
          .catch((error: Error) => {
            if (error.name !== "AbortError") finish(`SSE failed: ${error.message}`);
          });
      }),
    ),
  );
  return { op: "ready", opened, failed, ...(firstError ? { firstError } : {}) };
}

/** Long-poll readers: each parks at the tail, and re-parks at the new tail after every answer. */
async function openLongPoll(command: ReadersCommand): Promise<Reply> {
  const head = await fetch(command.streamUrl, { method: "HEAD" });
  const tail = head.headers.get("stream-next-offset");
  if (!tail) return { op: "ready", opened: 0, failed: command.readers, firstError: `HEAD → ${head.status} without Stream-Next-Offset` };
  for (let reader = 0; reader < command.readers; reader++) {
    const abort = new AbortController();
    aborts.push(abort);
    const last = { seq: -1 };
    void (async () => {
      let offset = tail;
      while (!abort.signal.aborted) {
        try {
          const response = await fetch(`${command.streamUrl}?offset=${encodeURIComponent(offset)}&live=long-poll`, { signal: abort.signal });
          const body = await response.text();
          const now = epochMs();
          if (response.status === 200) for (const message of JSON.parse(body) as Array<{ i: number; t: number }>) deliver(message.i, message.t, last, command.warmupSeq, now);
          offset = response.headers.get("stream-next-offset") ?? offset;
        } catch (error) {
          if ((error as Error).name === "AbortError") return;
          tally.closedEarly++;
          tally.firstClose ??= `long-poll failed: ${(error as Error).message}`;
          await Bun.sleep(50);
        }
      }
    })();
  }
  return { op: "ready", opened: command.readers, failed: 0 };
}

async function handle(command: Command): Promise<Reply> {
  switch (command.op) {
    case "ws":
      return openSockets(command);
    case "sse":
      return openSse(command);
    case "long-poll":
      return openLongPoll(command);
    case "peek":
      return { op: "count", received: tally.received };
    case "collect": {
      const usage = process.cpuUsage();
      const reply: Reply = { op: "samples", ...tally, cpuMs: (usage.user + usage.system) / 1000 };
      tally = { latencies: [], seqs: [], received: 0, duplicates: 0, closedEarly: 0 };
      return reply;
    }
    case "close": {
      closing = true;
      for (const abort of aborts) abort.abort();
      for (const ws of sockets) ws.close();
      return { op: "closed" };
    }
  }
}

process.on("message", (command: Command) => {
  void handle(command).then((reply) => {
    process.send!(reply);
    if (reply.op === "closed") setTimeout(() => process.exit(0), 100);
  });
});
process.on("disconnect", () => process.exit(0));
