// The `@durable-streams/server` reference server in a process of its own, for bench/run.ts.
// Plain JavaScript so it runs unchanged under Node (the package's declared engine) or Bun.
//
// Environment: REFERENCE_DATA_DIR set = file-backed store (log files + LMDB) in that directory;
// unset = in-memory store. Prints `{"msg":"listening","url":…}` then `{"msg":"ready"}` on stdout,
// the same two lines our server prints, so the harness waits for both the same way.
import { DurableStreamTestServer } from "@durable-streams/server";

/** How long `stop()` may take (it ends open SSE responses and closes LMDB) before we just exit. */
const STOP_TIMEOUT_MS = 5_000;

const dataDir = process.env.REFERENCE_DATA_DIR || undefined;
const server = new DurableStreamTestServer({ port: 0, host: "127.0.0.1", dataDir });
const url = await server.start();
const runtime = typeof Bun === "undefined" ? `node ${process.version}` : `bun ${Bun.version}`;
console.log(JSON.stringify({ msg: "listening", url, store: dataDir ? "file" : "memory", runtime }));
console.log(JSON.stringify({ msg: "ready" }));

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await Promise.race([server.stop(), new Promise((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS))]);
    process.exit(0);
  });
}
