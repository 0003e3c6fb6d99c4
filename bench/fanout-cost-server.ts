/**
 * Measures what one way of writing a batch of frames to many WebSockets costs the server's CPU, for
 * the "fan-out write cost" figure: `send` (a write per frame per socket, what src/sessions/socket.ts
 * did before), `cork` (each socket's frames corked into one write: what it does now) or `publish`
 * (Bun's topic `server.publish`, one call per frame, fanned out natively).
 *
 * Usage: `bun bench/fanout-cost-server.ts <send|cork|publish> <rounds> <framesPerRound>`; prints
 * `{"port"}`, then on any line on stdin runs the rounds and prints `{"cpuMs","frames"}`.
 */
const [mode = "send", roundsArg = "100", framesArg = "5"] = process.argv.slice(2);
const rounds = Number(roundsArg);
const framesPerRound = Number(framesArg);
/** Pause between rounds, so the clients keep up and nothing queues. */
const ROUND_GAP_MS = 5;

const sockets = new Set<import("bun").ServerWebSocket<undefined>>();
const server = Bun.serve<undefined>({
  port: 0,
  hostname: "127.0.0.1",
  fetch: (request, srv) => (srv.upgrade(request) ? undefined : new Response("WebSocket only", { status: 426 })),
  websocket: {
    open(ws) {
      sockets.add(ws);
      if (mode === "publish") ws.subscribe("session");
    },
    message() {},
    close(ws) {
      sockets.delete(ws);
    },
  },
});
console.log(JSON.stringify({ port: server.port }));

// A frame like the session channel's.
const frame = JSON.stringify({ type: "event", session: "ses_0123456789abcdefghij", offset: "0000000000000000_0000000000012345", event: { type: "message.delta", id: "msg_0123456789", runId: "run_0123456789", text: "a few tokens of text " } });

process.stdin.once("data", async () => {
  const before = process.cpuUsage();
  for (let round = 0; round < rounds; round++) {
    if (mode === "publish") {
      for (let i = 0; i < framesPerRound; i++) server.publish("session", frame);
    } else if (mode === "cork") {
      for (const ws of sockets) ws.cork(() => {
        for (let i = 0; i < framesPerRound; i++) ws.send(frame);
      });
    } else {
      for (const ws of sockets) for (let i = 0; i < framesPerRound; i++) ws.send(frame);
    }
    await Bun.sleep(ROUND_GAP_MS);
  }
  const used = process.cpuUsage(before);
  console.log(JSON.stringify({ cpuMs: (used.user + used.system) / 1000, frames: rounds * framesPerRound * sockets.size }));
  process.exit(0);
});
