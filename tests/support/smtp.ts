import { SMTPServer } from "smtp-server";
import { simpleParser, type ParsedMail } from "mailparser";
import type { AddressInfo } from "node:net";

/** One message as it reached the SMTP server: the raw bytes and mailparser's reading of them. */
export interface ReceivedMail {
  raw: string;
  parsed: ParsedMail;
  envelopeTo: string[];
}

export interface TestSmtp {
  port: number;
  url: string;
  received: ReceivedMail[];
  /** Close the server (to test "SMTP is down"). */
  close(): Promise<void>;
}

/**
 * A real SMTP server (the `smtp-server` package) in the test process: it demands a login
 * (`user`/`password`), refuses recipients whose local part is `nobody`, and parses every message
 * that arrives with `mailparser`.
 *
 * @example
 * const smtp = await startSmtp({ user: "studio", password: "secret" });
 * // SMTP_URL = `smtp://studio:secret@127.0.0.1:${smtp.port}`
 */
export async function startSmtp(auth: { user: string; password: string }): Promise<TestSmtp> {
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    // Plain SMTP on loopback: no STARTTLS (a self-signed certificate would fail verification).
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    logger: false,
    onAuth(login, _session, callback) {
      if (login.username === auth.user && login.password === auth.password) return callback(null, { user: login.username });
      callback(Object.assign(new Error("5.7.8 Authentication credentials invalid"), { responseCode: 535 }));
    },
    onRcptTo(address, _session, callback) {
      if (address.address.startsWith("nobody@")) return callback(Object.assign(new Error(`5.1.1 <${address.address}>: no such user here`), { responseCode: 550 }));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", async () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        received.push({ raw, parsed: await simpleParser(raw), envelopeTo: session.envelope.rcptTo.map((r) => r.address) });
        callback(null, "2.0.0 Ok: queued as TEST");
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://${auth.user}:${auth.password}@127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
