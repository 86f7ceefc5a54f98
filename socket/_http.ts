// This module is browser compatible.
/**
 * The little HTTP/1.1 that `acceptWebSocket()` (websocket_server.ts) needs: finding and parsing a request
 * head, and encoding a response that closes the connection. Private to socket/.
 *
 * @module
 */

const LF = 0x0a;
const CR = 0x0d;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const VERSION = /^HTTP\/1\.(\d)$/;

/** An RFC 9110 token; the quote and backtick are escaped for scripts/check_globals.ts. */
export const TOKEN: RegExp = /^[!#$%&\x27*+\-.^_\x60|~0-9A-Za-z]+$/;

/** Reason phrases of the statuses this project sends. */
export const REASONS: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  204: "No Content",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  426: "Upgrade Required",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** Whether the comma-separated list `value` holds `token` (case-insensitive). */
export function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  for (const item of value.split(",")) {
    if (item.trim().toLowerCase() === token) return true;
  }
  return false;
}

/**
 * Index just past the blank line ending a request head in `data`, searching from `from`;
 * -1 when it is not there yet. Bare LF line ends are accepted (RFC 9112 2.2).
 */
export function headEnd(data: Uint8Array, from: number): number {
  const last = data.length - 1;
  for (let i = from; i < last; i++) {
    if (data[i] !== LF) continue;
    const next = data[i + 1];
    if (next === LF) return i + 2;
    if (next === CR && i + 2 <= last && data[i + 2] === LF) return i + 3;
  }
  return -1;
}

/** A parsed request head. */
export interface ParsedRequest {
  /** The method, as sent. */
  method: string;
  /** The minor version of HTTP/1.x. */
  version: number;
  /** The path of the request target, without the query. */
  path: string;
  /** The query without its `?`, or `""`. */
  query: string;
  /** Header fields by lower-case name; repeated ones joined with `", "`. */
  headers: Map<string, string>;
}

/** Parse a request head; `undefined` when it is malformed. */
export function parseHead(head: Uint8Array): ParsedRequest | undefined {
  const lines = decoder.decode(head).split("\n");
  const requestLine = lines[0]?.endsWith("\r") ? lines[0].slice(0, -1) : lines[0];
  const parts = requestLine?.split(" ");
  if (parts?.length !== 3) return undefined;
  const [method, target, protocol] = parts as [string, string, string];
  const version = VERSION.exec(protocol);
  if (!TOKEN.test(method) || target === "" || version === null) return undefined;
  let pathAndQuery = target;
  const scheme = /^https?:\/\/[^/?#]*/i.exec(target);
  if (scheme !== null) pathAndQuery = target.slice(scheme[0].length) || "/";
  const question = pathAndQuery.indexOf("?");
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line === "") break;
    // Obsolete line folding and stray control characters are refused (RFC 9112 5.2).
    if (line[0] === " " || line[0] === "\t" || /[\0\r]/.test(line)) return undefined;
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    if (colon < 1 || !TOKEN.test(name)) return undefined;
    const value = line.slice(colon + 1).trim();
    const previous = headers.get(name);
    headers.set(name, previous === undefined ? value : `${previous}, ${value}`);
  }
  return {
    method,
    version: Number(version[1]),
    path: question < 0 ? pathAndQuery : pathAndQuery.slice(0, question),
    query: question < 0 ? "" : pathAndQuery.slice(question + 1),
    headers,
  };
}

/** Encode an HTTP response that closes the connection. */
export function encodeResponse(
  status: number,
  headers: Record<string, string>,
  body: Uint8Array | string,
  omitBody: boolean,
): Uint8Array {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\n`;
  let hasType = false;
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower === "content-length" || lower === "connection" || lower === "transfer-encoding") {
      continue;
    }
    if (lower === "content-type") hasType = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!hasType && bytes.length > 0 && typeof body === "string") {
    head += "Content-Type: text/plain; charset=utf-8\r\n";
  }
  head += `Content-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`;
  const headBytes = encoder.encode(head);
  if (omitBody || bytes.length === 0) return headBytes;
  const out = new Uint8Array(headBytes.length + bytes.length);
  out.set(headBytes);
  out.set(bytes, headBytes.length);
  return out;
}
