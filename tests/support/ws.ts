/** A test WebSocket client that records every frame and can wait for one. */
export class TestSocket {
  readonly frames: any[] = [];
  readonly ws: WebSocket;
  closeEvent: CloseEvent | undefined;
  #waiters: Array<{ test: (frame: any) => boolean; resolve: (frame: any) => void }> = [];
  #opened: Promise<void>;
  #closed: Promise<CloseEvent>;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.#opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve(), { once: true });
      this.ws.addEventListener("error", () => reject(new Error(`websocket to ${url} failed`)), { once: true });
    });
    this.#closed = new Promise((resolve) => this.ws.addEventListener("close", (event) => {
      this.closeEvent = event;
      resolve(event);
    }));
    this.ws.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data));
      this.frames.push(frame);
      for (const waiter of [...this.#waiters]) {
        if (waiter.test(frame)) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          waiter.resolve(frame);
        }
      }
    });
  }

  static async open(url: string): Promise<TestSocket> {
    const socket = new TestSocket(url);
    await socket.#opened;
    return socket;
  }

  send(frame: unknown) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The first frame (already received or future) matching `test`. */
  waitFor(test: (frame: any) => boolean, timeoutMs = 10_000): Promise<any> {
    const seen = this.frames.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms; last frames: ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.#waiters.push({ test, resolve: (frame) => { clearTimeout(timer); resolve(frame); } });
    });
  }

  /** Sends a frame with an id and waits for its ack or error. */
  async request(frame: Record<string, unknown>): Promise<any> {
    const id = `r${Math.random().toString(36).slice(2)}`;
    this.send({ ...frame, id });
    return this.waitFor((f) => (f.type === "ack" || f.type === "error" || f.type === "subscribed" || f.type === "pong") && f.id === id);
  }

  events(session: string): any[] {
    return this.frames.filter((f) => f.type === "event" && f.session === session);
  }

  async waitForEvents(session: string, count: number, timeoutMs = 10_000): Promise<any[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.events(session).length < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.events(session).length} of ${count} events arrived`);
      await Bun.sleep(10);
    }
    return this.events(session);
  }

  close() {
    this.ws.close();
    return this.#closed;
  }

  closed() {
    return this.#closed;
  }
}
