import type { ChatRequest, ImageRequest, Provider } from "./types";

/** Defaults: about 300 tokens at 40 tokens per second. */
export const OFFLINE_DEFAULT_TOKENS = 300;
export const OFFLINE_DEFAULT_TOKENS_PER_SECOND = 40;

/** A 32-bit FNV-1a hash: the seed of everything the offline provider writes. */
export function hashText(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** mulberry32: a small deterministic PRNG. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const OPENERS = [
  "Here is an offline draft reply about {topic}.",
  "Offline draft: a first pass on {topic}.",
  "Working offline, so here is a deterministic sketch on {topic}.",
];
const SENTENCES = [
  "The key point is to keep {topic} simple enough that the next step is obvious.",
  "Start with what the reader already knows, then add one new idea at a time.",
  "A short example usually does more than a long explanation.",
  "If {topic} has several parts, take them in the order they depend on each other.",
  "Measure the result before changing course, so the decision rests on evidence.",
  "Name the trade-off plainly: what we gain, and what it costs.",
  "Write down the assumption, because that is where surprises come from.",
  "The quickest check is to try it on one real case and look closely.",
  "When in doubt, prefer the option that is easy to undo.",
  "A clear default serves most people; options serve the rest.",
];

/** The words a prompt is about: its longest distinctive words, for a reply that follows the input. */
export function topicOf(text: string): string {
  const words = text.toLowerCase().match(/[a-z][a-z'-]{3,}/g) ?? [];
  const stop = new Set(["this", "that", "with", "from", "have", "about", "what", "which", "would", "could", "should", "there", "their", "please", "write", "tell"]);
  const picked = [...new Set(words.filter((w) => !stop.has(w)))].sort((a, b) => b.length - a.length).slice(0, 3);
  return picked.length > 0 ? picked.join(", ") : "your message";
}

/** Splits text into token-sized chunks (a word and its following space). */
export function tokenize(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [];
}

/**
 * Deterministic for the same input, paced like a model. Labelled as an offline draft in what it
 * writes, so nobody mistakes it for a model's answer.
 */
export class OfflineProvider implements Provider {
  readonly name = "offline" as const;

  /** The whole reply for a request, without pacing (tests and structured callers use this). */
  compose(request: Pick<ChatRequest, "system" | "messages" | "tokens">): string {
    const last = [...request.messages].reverse().find((m) => m.role === "user");
    const lastText = typeof last?.content === "string" ? last.content : (last?.content ?? []).map((p) => (p.type === "text" ? p.text : "")).join(" ");
    const seedText = `${request.system ?? ""}\n${request.messages.map((m) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content))).join("\n")}`;
    const random = seededRandom(hashText(seedText));
    const topic = topicOf(lastText);
    const target = request.tokens ?? OFFLINE_DEFAULT_TOKENS;
    const parts = [OPENERS[Math.floor(random() * OPENERS.length)]!.replaceAll("{topic}", topic)];
    let count = tokenize(parts[0]!).length;
    while (count < target) {
      const sentence = SENTENCES[Math.floor(random() * SENTENCES.length)]!.replaceAll("{topic}", topic);
      parts.push(sentence);
      count += tokenize(sentence).length;
    }
    return tokenize(parts.join(" ")).slice(0, target).join("").trimEnd();
  }

  async *stream(request: ChatRequest): AsyncIterable<string> {
    const tokens = remainingTokens(tokenize(this.compose(request)), request.continueFrom);
    const perSecond = Math.max(1, request.tokensPerSecond ?? OFFLINE_DEFAULT_TOKENS_PER_SECOND);
    const intervalMs = 1000 / perSecond;
    const { signal } = request;
    // One abort listener for the whole stream: it cuts the current wait short.
    let waiting: PacedWait | undefined;
    const onAbort = () => waiting && pacer.wake(waiting);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const started = performance.now();
      for (let i = 0; i < tokens.length; i++) {
        if (signal.aborted) return;
        const due = started + i * intervalMs;
        if (due > performance.now()) {
          waiting = pacer.wait(due);
          await waiting.done;
          waiting = undefined;
        }
        if (signal.aborted) return;
        yield tokens[i]!;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
}

interface PacedWait {
  at: number;
  done: Promise<void>;
  resolve: () => void;
  woken: boolean;
}

/**
 * The pace of every offline stream in the process, on one timer: waits are kept in a min-heap by
 * due time, and the timer is set for the earliest. 200 runs at 40 tokens/s are 8,000 waits a
 * second; a timer (and an abort listener) each cost more than the rest of a token's way.
 */
class Pacer {
  #heap: PacedWait[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  /** A wait that ends at `at` (performance.now() time), or earlier through wake(). */
  wait(at: number): PacedWait {
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const wait: PacedWait = { at, done, resolve, woken: false };
    this.#push(wait);
    if (at < this.#timerAt) this.#arm(at);
    return wait;
  }

  /** Ends a wait now (its entry leaves the heap when its time comes). */
  wake(wait: PacedWait): void {
    if (wait.woken) return;
    wait.woken = true;
    wait.resolve();
  }

  #arm(at: number) {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, at - performance.now()));
  }

  #fire() {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    // Timers have millisecond resolution: what is due within the next half millisecond goes now.
    const now = performance.now() + 0.5;
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now) this.wake(this.#pop());
    if (this.#heap.length > 0) this.#arm(this.#heap[0]!.at);
  }

  #push(wait: PacedWait) {
    const heap = this.#heap;
    heap.push(wait);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= wait.at) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = wait;
  }

  #pop(): PacedWait {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      while (true) {
        const left = 2 * i + 1;
        if (left >= heap.length) break;
        const child = left + 1 < heap.length && heap[left + 1]!.at < heap[left]!.at ? left + 1 : left;
        if (heap[child]!.at >= last.at) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}

const pacer = new Pacer();

/**
 * The tokens after `written` (the start of the reply a dead attempt wrote): deltas carry whole
 * tokens, so it is normally a token prefix and we resume at the next token index.
 */
export function remainingTokens(tokens: string[], written: string | undefined): string[] {
  if (!written) return tokens;
  let length = 0;
  for (let i = 0; i < tokens.length; i++) {
    if (length === written.length) return tokens.slice(i);
    length += tokens[i]!.length;
  }
  if (length === written.length) return [];
  // Not on a token boundary (an unusual cut): continue with the rest of the text, token-sized.
  const full = tokens.join("");
  return full.startsWith(written) ? (full.slice(written.length).match(/\s*\S+\s*/g) ?? []) : tokens;
}

export type { ImageRequest };
