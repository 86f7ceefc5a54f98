/**
 * The browser bundle of the client, built the way `scripts/bundle_size.ts` measures it:
 * `bun build client/browser.ts --target=browser --minify` into a directory.
 *
 * The repository root is found by walking up from this file, so the same code works from
 * the sources and from the npm build (`npm/esm/tests/browser/`), where the `.ts` entry
 * exists only at the root.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The entry point of the browser bundle, relative to the repository root. */
export const ENTRY = "client/browser.ts";

/** A built bundle. */
export interface Bundle {
  /** The name of the bundle's file in the output directory. */
  file: string;
  /** Its text. */
  text: string;
}

/**
 * Find the repository root: the nearest directory above `from` that holds the browser
 * entry (`client/browser.ts`) and a `deno.json`.
 *
 * @param from A directory to start from.
 * @returns The root's absolute path.
 */
export function repoRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, ENTRY)) && existsSync(join(dir, "deno.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`Cannot find the repository root: no "${ENTRY}" above "${from}"`);
    }
    dir = parent;
  }
}

/**
 * Bundle the browser client with `bun build --target=browser --minify` into `outDir`.
 *
 * @param outDir An empty directory for the output.
 * @param timeout Ms the build may take.
 * @returns The bundle's file name and text.
 */
export function bundleBrowserClient(outDir: string, timeout = 60_000): Bundle {
  const root = repoRoot();
  const localBun = join(root, "node_modules/.bin/bun");
  const bun = existsSync(localBun) ? localBun : "bun";
  const result = spawnSync(
    bun,
    ["build", join(root, ENTRY), "--target=browser", "--minify", "--outdir", outDir],
    { encoding: "utf8", timeout },
  );
  if (result.status !== 0) {
    throw new Error(
      `Cannot bundle "${ENTRY}": bun build exited with ${result.status} (${
        result.error ?? result.stderr
      })`,
    );
  }
  const files = readdirSync(outDir).filter((name) => name.endsWith(".js"));
  if (files.length !== 1) {
    throw new Error(`Cannot bundle "${ENTRY}": expected one .js file, got ${files.length}`);
  }
  const file = files[0]!;
  return { file, text: readFileSync(join(outDir, file), "utf8") };
}
