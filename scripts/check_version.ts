/**
 * Fails when the version or the exports disagree between `deno.json`, `version.ts`,
 * `CHANGELOG.md` and (when built) `npm/package.json`.
 *
 * Run: `deno run -A scripts/check_version.ts`
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { VERSION } from "../version.ts";
import { npmExports, readDenoJson } from "./_package.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const problems: string[] = [];
const deno = readDenoJson(ROOT);
if (VERSION !== deno.version) {
  problems.push(`version.ts has "${VERSION}" but deno.json has "${deno.version}"`);
}
const changelog = readFileSync(join(ROOT, "CHANGELOG.md"), "utf8");
if (!changelog.includes(`## ${deno.version}`) && !changelog.includes(`## [${deno.version}]`)) {
  problems.push(`CHANGELOG.md has no section for "${deno.version}"`);
}
const npmJson = join(ROOT, "npm/package.json");
// `--source-only` (before the npm build) skips a possibly stale npm/ output.
if (!process.argv.includes("--source-only") && existsSync(npmJson)) {
  const pkg = JSON.parse(readFileSync(npmJson, "utf8"));
  if (pkg.version !== deno.version) {
    problems.push(`npm/package.json has "${pkg.version}" but deno.json has "${deno.version}"`);
  }
  const want = npmExports(deno.exports);
  for (const key of new Set([...Object.keys(want), ...Object.keys(pkg.exports ?? {})])) {
    if (JSON.stringify(want[key]) !== JSON.stringify(pkg.exports?.[key])) {
      problems.push(`export "${key}" differs between deno.json and npm/package.json`);
    }
  }
}
for (const p of problems) console.error(`check_version: ${p}`);
if (problems.length > 0) process.exit(1);
console.log(`check_version: ${deno.version} everywhere`);
