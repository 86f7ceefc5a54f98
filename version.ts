// This module is browser compatible.
/**
 * The version of mq. `scripts/check_version.ts` keeps it equal to `deno.json`'s.
 *
 * @module
 */

/**
 * The package version.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VERSION } from "./version.ts";
 * assert.match(VERSION, /^\d+\.\d+\.\d+/);
 * ```
 */
export const VERSION: string = "0.1.0";
