/**
 * Measures the browser bundle of the client: bundles `client/browser.ts` (the client and
 * the WebSocket adapter) with `bun build --target=browser --minify` into a temporary
 * directory, gzips it, prints the sizes, and fails when the gzipped size passes the budget
 * (25 KB) or the bundle mentions a `node:` module.
 *
 * Run: `deno run -A scripts/bundle_size.ts` (or `bun`/`node --experimental-strip-types`).
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { gzipSync } from "node:zlib";

const ROOT = new URL("..", import.meta.url).pathname;
const BUDGET = 25 * 1024;
const ENTRY = join(ROOT, "client/browser.ts");
const localBun = join(ROOT, "node_modules/.bin/bun");
const bun = existsSync(localBun) ? localBun : "bun";

const dir = mkdtempSync(join(tmpdir(), "mq-bundle-"));
let failed = false;
try {
  const result = spawnSync(
    bun,
    ["build", ENTRY, "--target=browser", "--minify", "--outdir", dir],
    { encoding: "utf8", timeout: 120_000 },
  );
  if (result.status !== 0) {
    console.error(result.stdout, result.stderr);
    throw new Error(`Cannot bundle "${ENTRY}": bun build exited with ${result.status}`);
  }
  const files = readdirSync(dir).filter((name) => name.endsWith(".js"));
  let text = "";
  for (const name of files) text += readFileSync(join(dir, name), "utf8");
  const raw = new TextEncoder().encode(text).byteLength;
  const gzipped = gzipSync(text, { level: 9 }).byteLength;
  console.log(
    `client browser bundle: ${files.length} file(s), ${raw} bytes minified, ${gzipped} bytes gzipped (budget ${BUDGET})`,
  );
  const nodeImport = text.match(/["'`]node:[a-z_/]+["'`]/);
  if (nodeImport !== null) {
    console.error(`FAIL: the bundle refers to ${nodeImport[0]}`);
    failed = true;
  }
  if (gzipped > BUDGET) {
    console.error(`FAIL: ${gzipped} bytes gzipped exceeds the budget of ${BUDGET} bytes`);
    failed = true;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (failed) process.exit(1);
console.log("ok");
