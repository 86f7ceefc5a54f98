/**
 * Shared helpers for the build scripts: read `deno.json` and map its exports onto the npm
 * package's `exports` (one source of truth, checked in both directions).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The fields of `deno.json` the scripts use. */
export interface DenoJson {
  /** JSR name. */
  name: string;
  /** Version. */
  version: string;
  /** Licence identifier. */
  license: string;
  /** Export map: subpath to source file. */
  exports: Record<string, string>;
}

/** An npm export target. */
export interface NpmExport {
  /** Declaration file. */
  types: string;
  /** ES module. */
  default: string;
}

/**
 * Read and minimally validate `deno.json`.
 *
 * @param root The repository root.
 * @returns Its parsed contents.
 */
export function readDenoJson(root: string): DenoJson {
  const json = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")) as DenoJson;
  if (typeof json.version !== "string" || typeof json.exports !== "object") {
    throw new TypeError(`Cannot read "${join(root, "deno.json")}": version or exports missing`);
  }
  return json;
}

/**
 * Map `deno.json` exports (`"./protocol": "./protocol/mod.ts"`) to npm exports
 * (`"./protocol": { types: "./esm/protocol/mod.d.ts", default: "./esm/protocol/mod.js" }`).
 *
 * @param exports The `deno.json` exports.
 * @returns The npm `exports` field.
 */
export function npmExports(exports: Record<string, string>): Record<string, NpmExport> {
  const out: Record<string, NpmExport> = {};
  for (const [key, source] of Object.entries(exports)) {
    const base = source.replace(/^\.\//, "./esm/").replace(/\.ts$/, "");
    out[key] = { types: `${base}.d.ts`, default: `${base}.js` };
  }
  return out;
}
