import http from "node:http";
import https from "node:https";
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { createBrotliDecompress, createGunzip, createInflate, type Gunzip } from "node:zlib";
import type { Readable } from "node:stream";

/**
 * Fetching pages a user names is a server-side request forgery risk: the URL (or any redirect, or any
 * stylesheet or image the page links to) may point at the service's own network. Every hop is checked
 * here: only http/https, no credentials in the URL, every address the name resolves to must be public
 * (unless the admin allows private ones), and the connection goes to exactly the address that was
 * checked, so a DNS answer cannot change between the check and the connect.
 */

/** Redirects followed before giving up. */
export const MAX_REDIRECTS = 5;
/** The whole fetch, redirects and body included. */
export const DEFAULT_FETCH_TIMEOUT_MS = 10_000;
export const MAX_URL_CHARS = 2_048;
const USER_AGENT = "DurableStudio-BrandImport/1.0 (+https://github.com/durable-studio)";

/** Where an address may lead: `forbidden` is refused even when private addresses are allowed. */
export type AddressClass = "public" | "private" | "forbidden";

export type FetchRefusalCode =
  | "invalid_url"
  | "scheme_not_allowed"
  | "credentials_in_url"
  | "private_address"
  | "forbidden_address"
  | "dns_failed"
  | "redirect_loop"
  | "too_many_redirects"
  | "too_large"
  | "timeout"
  | "http_error"
  | "connection_failed"
  | "aborted";

export type FetchResult =
  | { ok: true; url: string; status: number; contentType: string; bytes: Uint8Array }
  | { ok: false; code: FetchRefusalCode; message: string; url: string; status?: number };

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (a narrow seam, so tests can answer for DNS). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export interface GuardedFetchOptions {
  /** Private, loopback and unique-local addresses are allowed (IMPORT_ALLOW_PRIVATE=on). */
  allowPrivate: boolean;
  /** Bytes of (decoded) body accepted; more is `too_large`. */
  maxBytes: number;
  timeoutMs?: number;
  maxRedirects?: number;
  signal?: AbortSignal;
  accept?: string;
  resolve?: Resolver;
}

// --- addresses ---------------------------------------------------------------------------------

/** Cloud metadata services, refused whatever the setting (they hand out credentials). */
const METADATA_ADDRESSES = new Set(["169.254.169.254", "100.100.100.200", "fd00:ec2:0:0:0:0:0:254", "192.0.0.192"]);

function ipv4Octets(ip: string): number[] | undefined {
  const parts = ip.split(".");
  if (parts.length !== 4) return undefined;
  const octets = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : Number.NaN));
  return octets.every((o) => o >= 0 && o <= 255) ? octets : undefined;
}

function classifyIpv4([a = 0, b = 0, c = 0]: number[]): AddressClass {
  if (a === 0 || a >= 224 || (a === 169 && b === 254)) return "forbidden";
  if (a === 10 || a === 127) return "private";
  if (a === 100 && b >= 64 && b <= 127) return "private";
  if (a === 172 && b >= 16 && b <= 31) return "private";
  if (a === 192 && b === 168) return "private";
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return "private";
  if (a === 198 && (b === 18 || b === 19)) return "private";
  if (a === 198 && b === 51 && c === 100) return "private";
  if (a === 203 && b === 0 && c === 113) return "private";
  return "public";
}

/** An IPv6 address as eight 16-bit groups (zone ids dropped, an IPv4 tail expanded). */
export function ipv6Groups(ip: string): number[] | undefined {
  let text = ip.replace(/^\[|\]$/g, "").replace(/%.*$/, "").toLowerCase();
  const tail = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (tail) {
    const octets = ipv4Octets(tail[1]!);
    if (!octets) return undefined;
    text = text.slice(0, -tail[1]!.length) + `${((octets[0]! << 8) | octets[1]!).toString(16)}:${((octets[2]! << 8) | octets[3]!).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? Number.parseInt(g, 16) : Number.NaN)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array(Math.max(0, missing)).fill(0), ...rest];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g)) ? groups : undefined;
}

function classifyIpv6(g: number[]): AddressClass {
  const embedded = (hi: number, lo: number) => classifyIpv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  const zeroPrefix = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (g.every((x) => x === 0)) return "forbidden";
  if (zeroPrefix(7) && g[7] === 1) return "private";
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry an IPv4 address.
  if (zeroPrefix(5) && (g[5] === 0xffff || g[5] === 0)) return embedded(g[6]!, g[7]!);
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return embedded(g[6]!, g[7]!);
  if (g[0] === 0x2002) return embedded(g[1]!, g[2]!);
  const first = g[0]!;
  if ((first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00) return "forbidden";
  if (first === 0x0100 && g.slice(1, 4).every((x) => x === 0)) return "forbidden";
  if ((first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfec0) return "private";
  if (first === 0x2001 && (g[1] === 0x0db8 || g[1] === 0)) return "private";
  if (first === 0x64 && g[1] === 0xff9b) return "private";
  return "public";
}

/**
 * Classifies an IP address: `public`, `private` (RFC 1918, loopback, CGNAT, unique-local,
 * documentation ranges) or `forbidden` (unspecified, link-local, multicast, broadcast, cloud
 * metadata). Anything that does not parse is `forbidden`.
 *
 * @example classifyAddress("10.1.2.3") // "private"
 * @example classifyAddress("::ffff:169.254.169.254") // "forbidden"
 */
export function classifyAddress(ip: string): AddressClass {
  const bare = ip.replace(/^\[|\]$/g, "");
  const v4 = ipv4Octets(bare);
  if (v4) return METADATA_ADDRESSES.has(v4.join(".")) ? "forbidden" : classifyIpv4(v4);
  const v6 = ipv6Groups(bare);
  if (!v6) return "forbidden";
  if (METADATA_ADDRESSES.has(v6.map((x) => x.toString(16)).join(":"))) return "forbidden";
  return classifyIpv6(v6);
}

const systemResolver: Resolver = async (hostname) => {
  const found = await dnsLookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

type Checked = { ok: true; url: URL; host: string; addresses: ResolvedAddress[] } | { ok: false; code: FetchRefusalCode; message: string };
type Shape = { ok: true; url: URL; host: string } | { ok: false; code: FetchRefusalCode; message: string };

function checkShape(raw: string | URL): Shape {
  let url: URL;
  try {
    url = typeof raw === "string" ? new URL(raw) : raw;
  } catch {
    return { ok: false, code: "invalid_url", message: `${String(raw).slice(0, 200)} is not a URL.` };
  }
  if (url.href.length > MAX_URL_CHARS) return { ok: false, code: "invalid_url", message: `URLs are limited to ${MAX_URL_CHARS} characters.` };
  if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, code: "scheme_not_allowed", message: `Only http and https addresses can be fetched (not ${url.protocol.replace(":", "")}).` };
  if (url.username || url.password) return { ok: false, code: "credentials_in_url", message: "Addresses with a user name or password in them are not fetched." };
  return { ok: true, url, host: url.hostname.replace(/^\[|\]$/g, "") };
}

function checkAddresses(host: string, addresses: ResolvedAddress[], allowPrivate: boolean): { ok: true } | { ok: false; code: FetchRefusalCode; message: string } {
  // Every address is checked, not just the first: a name with one public and one private address is refused.
  for (const { address } of addresses) {
    const kind = classifyAddress(address);
    if (kind === "forbidden") return { ok: false, code: "forbidden_address", message: `${host} leads to ${address}, a link-local, metadata or reserved address; it is never fetched.` };
    if (kind === "private" && !allowPrivate) return { ok: false, code: "private_address", message: `${host} leads to ${address}, a private or loopback address; an admin can allow these with IMPORT_ALLOW_PRIVATE=on.` };
  }
  return { ok: true };
}

/**
 * The checks that need no DNS, for the HTTP edge: a URL, http(s), no credentials, and not a literal
 * private or forbidden IP address. Host names are resolved and checked when they are fetched.
 *
 * @example precheckUrl("http://127.0.0.1/", { allowPrivate: false }) // { ok: false, code: "private_address", … }
 */
export function precheckUrl(raw: string, options: { allowPrivate: boolean }): { ok: true; url: URL } | { ok: false; code: FetchRefusalCode; message: string } {
  const shape = checkShape(raw);
  if (!shape.ok) return shape;
  if (isIP(shape.host)) {
    const addresses = checkAddresses(shape.host, [{ address: shape.host, family: isIP(shape.host) === 6 ? 6 : 4 }], options.allowPrivate);
    if (!addresses.ok) return addresses;
  }
  if (/^localhost$|\.localhost$/i.test(shape.host.replace(/\.$/, "")) && !options.allowPrivate) {
    return { ok: false, code: "private_address", message: `${shape.host} is this machine; an admin can allow private addresses with IMPORT_ALLOW_PRIVATE=on.` };
  }
  return { ok: true, url: shape.url };
}

/**
 * Checks one URL before it is fetched: scheme, credentials, and every address its host resolves to.
 * Returns the addresses to connect to (exactly the ones checked).
 */
export async function checkUrl(raw: string | URL, options: { allowPrivate: boolean; resolve?: Resolver }): Promise<Checked> {
  const shape = checkShape(raw);
  if (!shape.ok) return shape;
  const { url, host } = shape;
  let addresses: ResolvedAddress[];
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) === 6 ? 6 : 4 }];
  else {
    try {
      addresses = await (options.resolve ?? systemResolver)(host);
    } catch {
      return { ok: false, code: "dns_failed", message: `${host} could not be found (DNS).` };
    }
    if (addresses.length === 0) return { ok: false, code: "dns_failed", message: `${host} has no addresses.` };
  }
  const allowed = checkAddresses(host, addresses, options.allowPrivate);
  if (!allowed.ok) return allowed;
  return { ok: true, url, host, addresses };
}

// --- fetching ----------------------------------------------------------------------------------

type Hop =
  | { kind: "redirect"; location: string; status: number }
  | { kind: "body"; status: number; contentType: string; bytes: Uint8Array }
  | { kind: "error"; code: FetchRefusalCode; message: string; status?: number };

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

function decoder(encoding: string | undefined): Gunzip | ReturnType<typeof createInflate> | ReturnType<typeof createBrotliDecompress> | undefined {
  switch ((encoding ?? "").trim().toLowerCase()) {
    case "gzip":
    case "x-gzip":
      return createGunzip();
    case "deflate":
      return createInflate();
    case "br":
      return createBrotliDecompress();
    default:
      return undefined;
  }
}

/** One request to one checked address; never follows redirects itself. */
function requestOnce(target: Extract<Checked, { ok: true }>, options: GuardedFetchOptions, signal: AbortSignal): Promise<Hop> {
  const { url, host, addresses } = target;
  const client = url.protocol === "https:" ? https : http;
  return new Promise<Hop>((resolve) => {
    let settled = false;
    const finish = (hop: Hop) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      resolve(hop);
      request.destroy();
    };
    const onAbort = () => finish({ kind: "error", code: "aborted", message: "The fetch was stopped." });
    const request = client.request(
      {
        protocol: url.protocol,
        hostname: host,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: "GET",
        agent: false,
        headers: { "user-agent": USER_AGENT, accept: options.accept ?? "*/*", "accept-encoding": "gzip, deflate, br", "accept-language": "en" },
        // Connect to the address that was checked, never to a fresh DNS answer.
        lookup: ((_hostname: string, opts: { all?: boolean }, callback: (...args: unknown[]) => void) => {
          if (opts?.all) callback(null, addresses);
          else callback(null, addresses[0]!.address, addresses[0]!.family);
        }) as never,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        const location = response.headers.location;
        if (REDIRECT_STATUSES.has(status) && location) return finish({ kind: "redirect", location, status });
        if (status < 200 || status >= 300) return finish({ kind: "error", code: "http_error", message: `${url.href} answered ${status}.`, status });
        const declared = Number(response.headers["content-length"] ?? Number.NaN);
        const encoding = response.headers["content-encoding"];
        if (!encoding && declared > options.maxBytes) return finish({ kind: "error", code: "too_large", message: `${url.href} is ${declared} bytes; the limit is ${options.maxBytes}.` });
        const unpack = decoder(typeof encoding === "string" ? encoding : undefined);
        const body: Readable = unpack ? response.pipe(unpack) : response;
        const chunks: Buffer[] = [];
        let received = 0;
        let raw = 0;
        response.on("data", (chunk: Buffer) => {
          raw += chunk.length;
          if (raw > options.maxBytes) finish({ kind: "error", code: "too_large", message: `${url.href} is larger than ${options.maxBytes} bytes.` });
        });
        body.on("data", (chunk: Buffer) => {
          received += chunk.length;
          if (received > options.maxBytes) return finish({ kind: "error", code: "too_large", message: `${url.href} is larger than ${options.maxBytes} bytes.` });
          chunks.push(chunk);
        });
        body.on("end", () => finish({ kind: "body", status, contentType: String(response.headers["content-type"] ?? ""), bytes: new Uint8Array(Buffer.concat(chunks)) }));
        body.on("error", () => finish({ kind: "error", code: "connection_failed", message: `${url.href} sent a body that could not be read.` }));
        response.on("error", () => finish({ kind: "error", code: "connection_failed", message: `The connection to ${host} broke.` }));
      },
    );
    request.on("error", (error) => finish({ kind: "error", code: "connection_failed", message: `${host} could not be reached (${error.message}).` }));
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) onAbort();
    request.end();
  });
}

/**
 * GETs a URL on behalf of a user, refusing what a server must not fetch (see the module comment),
 * with a size limit on the decoded body, a deadline for the whole fetch and a cap on redirects
 * (each hop checked again). Expected failures are values, never throws.
 *
 * @example
 * const page = await guardedFetch("https://example.com", { allowPrivate: false, maxBytes: 2_000_000 });
 * if (page.ok) console.log(new TextDecoder().decode(page.bytes));
 */
export async function guardedFetch(input: string | URL, options: GuardedFetchOptions): Promise<FetchResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const maxRedirects = options.maxRedirects ?? MAX_REDIRECTS;
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  const seen = new Set<string>();
  let current = String(input);
  for (let hop = 0; hop <= maxRedirects; hop++) {
    const checked = await checkUrl(current, options);
    if (!checked.ok) return { ...checked, url: current };
    seen.add(checked.url.href);
    if (signal.aborted) return stopped(current, deadline);
    const result = await requestOnce(checked, options, signal);
    if (result.kind === "error") return result.code === "aborted" ? stopped(current, deadline) : { ok: false, code: result.code, message: result.message, url: checked.url.href, ...(result.status ? { status: result.status } : {}) };
    if (result.kind === "body") return { ok: true, url: checked.url.href, status: result.status, contentType: result.contentType, bytes: result.bytes };
    let next: URL;
    try {
      next = new URL(result.location, checked.url);
    } catch {
      return { ok: false, code: "invalid_url", message: `${checked.url.href} redirects to an address that is not a URL.`, url: checked.url.href };
    }
    next.hash = "";
    if (seen.has(next.href)) return { ok: false, code: "redirect_loop", message: `${checked.url.href} redirects in a loop (back to ${next.href}).`, url: checked.url.href };
    current = next.href;
  }
  return { ok: false, code: "too_many_redirects", message: `More than ${maxRedirects} redirects; gave up at ${current}.`, url: current };
}

function stopped(url: string, deadline: AbortSignal): FetchResult {
  return deadline.aborted
    ? { ok: false, code: "timeout", message: `${url} did not answer in time.`, url }
    : { ok: false, code: "aborted", message: "The fetch was stopped.", url };
}
