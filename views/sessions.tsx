import type { FC } from "hono/jsx";
import { Csrf, FormError, Layout } from "./layout";
import { Badge, EmptyState, PageHeader, statusTone, when } from "./components";

interface PageUser {
  name: string;
}

export const SessionsPage: FC<{ user: PageUser; csrfToken: string; offline: boolean; sessions: Array<{ id: string; title: string | null; createdAt: Date }>; error?: string }> = ({ user, csrfToken, offline, sessions, error }) => (
  <Layout title="Sessions" user={user} csrfToken={csrfToken} offline={offline} active="sessions">
    <PageHeader title="Sessions" subtitle="Durable, shared event logs between agents and clients. Every email generation is one too.">
      <form method="post" action="/sessions" class="inline new-session">
        <Csrf token={csrfToken} />
        <label class="visually-hidden" for="new-session-title">Title</label>
        <input id="new-session-title" name="title" maxlength={200} placeholder="Title (optional)" />
        <button type="submit" class="primary">New session</button>
      </form>
    </PageHeader>
    <FormError message={error} />
    {sessions.length === 0 ? (
      <EmptyState title="No sessions yet">
        <p>Create one to try the durable-session features by hand: start an offline chat run, open the session in a second tab, steer, interrupt or cancel it.</p>
      </EmptyState>
    ) : (
      <div class="table-wrap">
        <table class="list" id="session-list">
          <thead>
            <tr><th scope="col">Title</th><th scope="col">Id</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Open</span></th></tr>
          </thead>
          <tbody>
            {sessions.map((s) => (
              <tr>
                <td><a href={`/sessions/${encodeURIComponent(s.id)}`}>{s.title || "Untitled session"}</a></td>
                <td><code>{s.id}</code></td>
                <td class="muted">{when(s.createdAt)}</td>
                <td><a href={`/sessions/${encodeURIComponent(s.id)}/chat`} class="small">Chat</a></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    )}
  </Layout>
);

export interface LogEntry {
  offset: string;
  type: string;
  summary: string;
}

export interface ConsoleData {
  session: { id: string; title: string | null };
  runs: Array<{ runId: string; agent: string; status: string; parentRunId: string | null }>;
  presence: Array<{ clientId: string; device: string; since: string; status?: string }>;
  messages: Array<{ id: string; role: string; text: string; status: string; runId?: string }>;
  log: LogEntry[];
  /** How many earlier events the log leaves out. */
  omitted: number;
  offset: string;
}

const Transcript: FC<{ messages: ConsoleData["messages"] }> = ({ messages }) => (
  <ol class="transcript" id="transcript" aria-live="polite">
    {messages.map((m) => (
      <li class={`message ${m.role}`} data-message-id={m.id} data-status={m.status}>
        <span class="message-meta">
          <strong>{m.role}</strong> {m.status !== "complete" && <Badge tone={statusTone(m.status)}>{m.status}</Badge>}
        </span>
        <p class="message-text">{m.text}</p>
      </li>
    ))}
  </ol>
);

export const ConsolePage: FC<{ user: PageUser; csrfToken: string; offline: boolean; data: ConsoleData; notice?: string }> = ({ user, csrfToken, offline, data, notice }) => {
  const url = `/sessions/${encodeURIComponent(data.session.id)}`;
  const active = data.runs.filter((r) => r.status === "running" || r.status === "queued" || r.status === "retrying");
  return (
    <Layout title={data.session.title || "Session"} user={user} csrfToken={csrfToken} offline={offline} active="sessions" wide scripts={["/static/console.js"]}>
      <div class="console" id="console" data-session-id={data.session.id} data-offset={data.offset}>
        <PageHeader title={data.session.title || "Untitled session"} subtitle={data.session.id}>
          <span class="connection" id="connection" data-state="idle" role="status">Connecting…</span>
          <a class="button" href={`${url}/chat`} target="_blank" rel="noopener">Open chat in a new tab</a>
        </PageHeader>
        {notice && <p class="notice success" role="status">{notice}</p>}
        <div class="console-grid">
          <div class="console-side">
            <section class="panel" aria-labelledby="controls-title">
              <h2 id="controls-title">Controls</h2>
              <form method="post" action={`${url}/runs`} class="stack" id="start-run">
                <Csrf token={csrfToken} />
                <label>Prompt <input name="prompt" maxlength={2000} placeholder="Tell me about durable sessions" /></label>
                <div class="two-up">
                  <label>Tokens <input name="tokens" type="number" min={1} max={5000} value="300" /></label>
                  <label>Tokens per second <input name="tokensPerSecond" type="number" min={1} max={1000} value="40" /></label>
                </div>
                <button type="submit" class="primary" id="start-run-button">Start offline chat run</button>
              </form>
              <form method="post" action={`${url}/control`} class="stack" id="steer-form">
                <Csrf token={csrfToken} />
                <input type="hidden" name="action" value="steer" />
                <label>Steer <input name="text" required maxlength={2000} placeholder="Make it shorter" id="steer-text" /></label>
                <button type="submit" id="steer">Steer</button>
              </form>
              <div class="control-row">
                <form method="post" action={`${url}/control`} class="inline" id="interrupt-form">
                  <Csrf token={csrfToken} />
                  <input type="hidden" name="action" value="interrupt" />
                  <button type="submit" id="interrupt">Interrupt</button>
                </form>
                <form method="post" action={`${url}/control`} class="inline" id="cancel-form">
                  <Csrf token={csrfToken} />
                  <input type="hidden" name="action" value="cancel" />
                  <button type="submit" class="danger" id="cancel">Cancel</button>
                </form>
              </div>
              <p class="muted small">Controls apply to every running run of this session. Closing this page never cancels anything.</p>
            </section>
            <section class="panel" aria-labelledby="presence-title">
              <h2 id="presence-title">Here now</h2>
              <ul class="presence" id="presence">
                {data.presence.length === 0 && <li class="muted">Nobody is connected.</li>}
                {data.presence.map((p) => (
                  <li><code>{p.clientId}</code> <span class="muted small">{p.device}</span>{p.status && <> <Badge tone="info">{p.status}</Badge></>}</li>
                ))}
              </ul>
            </section>
            <section class="panel" aria-labelledby="runs-title">
              <h2 id="runs-title">Runs <span class="muted small" id="active-runs">{active.length} active</span></h2>
              <table class="runs compact">
                <thead>
                  <tr><th scope="col">Run</th><th scope="col">Agent</th><th scope="col">Status</th></tr>
                </thead>
                <tbody id="runs">
                  {data.runs.map((r) => (
                    <tr data-run-id={r.runId}>
                      <td><code>{r.runId}</code></td>
                      <td>{r.agent}</td>
                      <td><Badge tone={statusTone(r.status)}>{r.status}</Badge></td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {data.runs.length === 0 && <p class="muted" id="no-runs">No runs yet. Start one above.</p>}
            </section>
          </div>
          <section class="panel" aria-labelledby="transcript-title">
            <h2 id="transcript-title">Messages</h2>
            <Transcript messages={data.messages} />
            {data.messages.length === 0 && <p class="muted" id="no-messages">No messages yet.</p>}
          </section>
          <section class="panel log-panel" aria-labelledby="log-title">
            <h2 id="log-title">Event log</h2>
            {data.omitted > 0 && <p class="muted small">{data.omitted} earlier events are not shown.</p>}
            <div class="log-scroll" tabindex={0} aria-label="Event log">
              <table class="log compact">
                <thead>
                  <tr><th scope="col">Offset</th><th scope="col">Event</th><th scope="col">Detail</th></tr>
                </thead>
                <tbody id="log">
                  {data.log.map((e) => (
                    <tr data-offset={e.offset}>
                      <td><code>{e.offset.replace(/^0+_?0*/, "") || "0"}</code></td>
                      <td><span class={`event-type t-${e.type.replace(".", "-")}`}>{e.type}</span></td>
                      <td>{e.summary}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
        </div>
      </div>
    </Layout>
  );
};

export const ChatPage: FC<{ user: PageUser; csrfToken: string; offline: boolean; session: { id: string; title: string | null }; messages: ConsoleData["messages"]; offset: string }> = ({ user, csrfToken, offline, session, messages, offset }) => {
  const url = `/sessions/${encodeURIComponent(session.id)}`;
  return (
    <Layout title={`Chat · ${session.title || "session"}`} user={user} csrfToken={csrfToken} offline={offline} active="sessions" scripts={["/static/chat.js"]}>
      <div class="chat" id="chat" data-session-id={session.id} data-offset={offset}>
        <PageHeader title={session.title || "Chat"} subtitle="Open this page in two tabs: both show the same conversation, live. Close one mid-answer and reopen it — it catches up.">
          <span class="connection" id="connection" data-state="idle" role="status">Connecting…</span>
          <a class="button quiet" href={url}>Console</a>
        </PageHeader>
        <div class="panel chat-panel">
          <Transcript messages={messages} />
          {messages.length === 0 && <p class="muted" id="no-messages">Say something to start.</p>}
          <form method="post" action={`${url}/chat`} class="chat-form" id="chat-form">
            <Csrf token={csrfToken} />
            <label class="visually-hidden" for="chat-text">Message</label>
            <input id="chat-text" name="text" required maxlength={4000} placeholder="Ask the offline agent something" autocomplete="off" />
            <button type="submit" class="primary">Send</button>
          </form>
          <form method="post" action={`${url}/control`} class="inline" id="chat-stop-form">
            <Csrf token={csrfToken} />
            <input type="hidden" name="action" value="cancel" />
            <input type="hidden" name="back" value="chat" />
            <button type="submit" class="danger small" id="chat-stop">Stop answering</button>
          </form>
        </div>
      </div>
    </Layout>
  );
};
