/**
 * Fails when runtime-specific globals or modules appear outside the files allowed to use
 * them (ARCHITECTURE.md rule 3): `Deno`, `Bun`, `process`, `require()` and `node:` imports
 * belong only in the runtime adapters of socket/ and in the CLI entry. Test files, tests/
 * and scripts/ are exempt. Comments are ignored, so JSDoc examples may import `node:`.
 *
 * Run: `deno run -A scripts/check_globals.ts`
 *
 * @module
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import process from "node:process";

const ROOT = new URL("..", import.meta.url).pathname;
const ALLOWED = new Set([
  "socket/node.ts",
  "socket/deno.ts",
  "socket/bun.ts",
  "socket/runtime.ts",
  "cli/main.ts",
  "store/sqlite.ts",
]);
const SKIP_DIRS = new Set(["node_modules", "npm", "dist", "tests", "scripts", ".git", ".ci"]);
const FORBIDDEN: [RegExp, string][] = [
  [/\bDeno\s*\./, "the Deno global"],
  [/\bBun\s*\./, "the Bun global"],
  [/\bprocess\s*\./, "the process global"],
  [/\brequire\s*\(/, "require()"],
  [/["']node:[a-z_/]+["']/, "a node: module"],
  [/["']bun(:[a-z]+)?["']/, "a bun module"],
];

/** Blank out comments while keeping strings and line numbers intact. */
function stripComments(src: string): string {
  let out = "";
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const n = src[i + 1];
    if (c === "/" && n === "/") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === "/" && n === "*") {
      i += 2;
      while (i < src.length && !(src[i] === "*" && src[i + 1] === "/")) {
        if (src[i] === "\n") out += "\n";
        i++;
      }
      i += 2;
    } else if (c === '"' || c === "'" || c === "`") {
      const q = c;
      out += c;
      i++;
      while (i < src.length && src[i] !== q) {
        if (src[i] === "\\") out += src[i++];
        out += src[i++];
      }
      out += q;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!SKIP_DIRS.has(name) && !name.startsWith(".")) yield* walk(path);
    } else if (name.endsWith(".ts") && !name.endsWith("_test.ts") && !name.endsWith(".d.ts")) {
      yield path;
    }
  }
}

let failures = 0;
let checked = 0;
for (const path of walk(ROOT)) {
  const rel = relative(ROOT, path);
  if (ALLOWED.has(rel)) continue;
  checked++;
  const lines = stripComments(readFileSync(path, "utf8")).split("\n");
  lines.forEach((line, index) => {
    for (const [re, what] of FORBIDDEN) {
      if (re.test(line)) {
        console.error(`${rel}:${index + 1}: uses ${what} outside the runtime adapters`);
        failures++;
      }
    }
  });
}
if (failures > 0) {
  console.error(`check_globals: ${failures} problem(s)`);
  process.exit(1);
}
console.log(`check_globals: ${checked} files clean`);
