import http from "node:http";
import https from "node:https";
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { createBrotliDecompress, createGunzip, createInflate, type Gunzip } from "node:zlib";
import type { Readable } from "node:stream";
import ipaddr from "ipaddr.js";

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
/** A name that has not resolved by then counts as not found. */
const DNS_TIMEOUT_MS = 5_000;
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
  /** `GET` (default) or `POST` (webhooks). A POST follows only 307/308 redirects, which keep the method and body. */
  method?: "GET" | "POST";
  /** The request body of a POST. */
  body?: string;
  /** Extra request headers (the user agent, `accept` and encodings are set here). */
  headers?: Record<string, string>;
  userAgent?: string;
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

/** ipaddr.js range names that are never fetched: nothing legitimate answers there, or it is link-local. */
const FORBIDDEN_RANGES = new Set(["unspecified", "broadcast", "multicast", "linkLocal", "discard"]);
/** Reserved for future use (240.0.0.0/4): ipaddr.js files it under `reserved` with the documentation ranges. */
const FORBIDDEN_CIDRS = [ipaddr.parseCIDR("240.0.0.0/4")];
/** IPv6 ranges that carry an IPv4 address, which decides: mapped, NAT64 (RFC 6052/6145) and 6to4. */
const EMBEDDING_RANGES = new Set(["ipv4Mapped", "rfc6145", "rfc6052", "6to4"]);

function classifyIpv4(address: ipaddr.IPv4): AddressClass {
  if (METADATA_ADDRESSES.has(address.toString())) return "forbidden";
  const range = address.range();
  if (FORBIDDEN_RANGES.has(range) || FORBIDDEN_CIDRS.some((cidr) => address.match(cidr))) return "forbidden";
  // Loopback, RFC 1918, CGNAT, documentation and benchmarking ranges, and every other special range.
  return range === "unicast" ? "public" : "private";
}

function classifyIpv6(address: ipaddr.IPv6): AddressClass {
  if (METADATA_ADDRESSES.has(address.toNormalizedString())) return "forbidden";
  const range = address.range();
  if (FORBIDDEN_RANGES.has(range)) return "forbidden";
  if (range === "loopback") return "private";
  const parts = address.parts;
  if (range === "6to4") return classifyIpv4(new ipaddr.IPv4([parts[1]! >> 8, parts[1]! & 0xff, parts[2]! >> 8, parts[2]! & 0xff]));
  // The deprecated IPv4-compatible form (::a.b.c.d) embeds its address in the last 32 bits too.
  if (EMBEDDING_RANGES.has(range) || parts.slice(0, 6).every((part) => part === 0)) {
    const embedded = classifyIpv4(new ipaddr.IPv4([parts[6]! >> 8, parts[6]! & 0xff, parts[7]! >> 8, parts[7]! & 0xff]));
    // A NAT64 gateway is on the operator's network: never better than private.
    return embedded === "public" && range === "rfc6052" ? "private" : embedded;
  }
  return range === "unicast" ? "public" : "private";
}

/**
 * Classifies an IP address: `public`, `private` (RFC 1918, loopback, CGNAT, unique-local,
 * documentation and other special-purpose ranges) or `forbidden` (unspecified, link-local,
 * multicast, broadcast, cloud metadata). Ranges come from ipaddr.js; anything that does not parse
 * is `forbidden`.
 *
 * @example classifyAddress("10.1.2.3") // "private"
 * @example classifyAddress("::ffff:169.254.169.254") // "forbidden"
 */
export function classifyAddress(ip: string): AddressClass {
  const bare = ip.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  // Only plain dotted quads: ipaddr.js would also read "127.1" or "0x7f.0.0.1", which DNS never returns.
  if (!ipaddr.IPv6.isValid(bare) && !ipaddr.IPv4.isValidFourPartDecimal(bare)) return "forbidden";
  const address = ipaddr.parse(bare);
  return address.kind() === "ipv4" ? classifyIpv4(address as ipaddr.IPv4) : classifyIpv6(address as ipaddr.IPv6);
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
      let timer: ReturnType<typeof setTimeout> | undefined;
      const slow = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("DNS timeout")), DNS_TIMEOUT_MS)));
      addresses = await Promise.race([(options.resolve ?? systemResolver)(host), slow]).finally(() => clearTimeout(timer));
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
        method: options.method ?? "GET",
        agent: false,
        headers: {
          "user-agent": options.userAgent ?? USER_AGENT,
          accept: options.accept ?? "*/*",
          "accept-encoding": "gzip, deflate, br",
          "accept-language": "en",
          ...options.headers,
          ...(options.body === undefined ? {} : { "content-length": String(Buffer.byteLength(options.body)) }),
        },
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
    request.end(options.body);
  });
}

/**
 * GETs (or POSTs to) a URL on behalf of a user, refusing what a server must not fetch (see the module comment),
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
    const method = options.method ?? "GET";
    if (method !== "GET" && result.status !== 307 && result.status !== 308) {
      return { ok: false, code: "http_error", message: `${checked.url.href} answered ${result.status}, a redirect that would turn the ${method} into a GET; it is not followed.`, url: checked.url.href, status: result.status };
    }
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
