/**
 * The peer of the idle-connection figure: the smallest useful Bun WebSocket server (accept any
 * upgrade, echo text frames, same idle timeout and pings as ours), so the difference is what our
 * per-socket state costs. Prints `{"msg":"listening","url","pid"}` like our server.
 */
const IDLE_TIMEOUT_SECONDS = 60;

const server = Bun.serve<undefined>({
  port: 0,
  hostname: "127.0.0.1",
  fetch(request, srv) {
    if (srv.upgrade(request)) return undefined;
    return new Response("WebSocket only", { status: 426 });
  },
  websocket: {
    idleTimeout: IDLE_TIMEOUT_SECONDS,
    sendPings: true,
    message(ws, message) {
      ws.send(message);
    },
  },
});
console.log(JSON.stringify({ msg: "listening", url: `http://127.0.0.1:${server.port}`, pid: process.pid, runtime: `bun ${Bun.version}` }));
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
