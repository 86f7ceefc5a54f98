/**
 * The one place that tells the runtimes apart (ARCHITECTURE.md rule 3) and picks the TCP
 * adapter for the current one.
 *
 * @module
 */

import type { SocketAdapter } from "./types.ts";

/** A JavaScript runtime this project tells apart. */
export type Runtime = "deno" | "bun" | "node" | "browser";

/**
 * Tell which runtime this code runs on. Deno and Bun also define `process`, so they are
 * checked first; anything without `process.versions.node` counts as a browser.
 *
 * @example Detect the runtime
 * ```ts
 * import assert from "node:assert/strict";
 * import { detectRuntime } from "./runtime.ts";
 *
 * assert.ok(["deno", "bun", "node", "browser"].includes(detectRuntime()));
 * ```
 *
 * @returns The runtime's name.
 */
export function detectRuntime(): Runtime {
  const global = globalThis as {
    Deno?: { version?: { deno?: string } };
    Bun?: { version?: string };
    process?: { versions?: { node?: string } };
  };
  if (typeof global.Deno?.version?.deno === "string") return "deno";
  if (typeof global.Bun?.version === "string") return "bun";
  if (typeof global.process?.versions?.node === "string") return "node";
  return "browser";
}

/**
 * Load the TCP/TLS adapter of the current runtime: Deno's and Bun's native sockets, or
 * `node:net` under Node. The adapter module is imported on demand, so the others are never
 * loaded. Rejects with a `TypeError` in a browser, which has no TCP sockets.
 *
 * @example Load the adapter
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadTcpAdapter } from "./runtime.ts";
 *
 * const adapter = await loadTcpAdapter();
 * assert.equal(typeof adapter.connect, "function");
 * ```
 *
 * @returns The adapter.
 */
export async function loadTcpAdapter(): Promise<SocketAdapter> {
  switch (detectRuntime()) {
    case "deno":
      return (await import("./deno.ts")).denoAdapter;
    case "bun":
      return (await import("./bun.ts")).bunAdapter;
    case "node":
      return (await import("./node.ts")).nodeAdapter;
    default:
      throw new TypeError("Cannot load a TCP socket adapter: this runtime has no TCP sockets");
  }
}
