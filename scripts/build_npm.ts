/**
 * Builds the npm package into `npm/` (our replacement for dnt, see ENVIRONMENT.md):
 * `tsc` emits ESM and `.d.ts` files (tests included, so the suite can run under Node on the
 * output), then `npm/package.json` is generated from `deno.json`, the single source of
 * truth for name, version and exports, and README, LICENSE and CHANGELOG are copied.
 *
 * Run: `deno run -A scripts/build_npm.ts [--outdir DIR]` (default `npm/`; `scripts/release.ts`
 * builds into a directory of its own)
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import process from "node:process";
import { npmExports, readDenoJson } from "./_package.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const outdirIndex = process.argv.indexOf("--outdir");
const outdirArg = outdirIndex >= 0 ? process.argv[outdirIndex + 1] : undefined;
if (outdirIndex >= 0 && (outdirArg === undefined || outdirArg === "")) {
  console.error(`build_npm: option "--outdir" needs a value`);
  process.exit(1);
}
const OUT = outdirArg === undefined ? join(ROOT, "npm") : resolve(outdirArg);
// OUT is deleted first: never the repository or a directory holding it, nor a directory with
// something other than an earlier build in it.
if (resolve(ROOT).startsWith(OUT + "/") || resolve(ROOT) === OUT || OUT === "/") {
  console.error(`build_npm: refusing to build into "${OUT}": it holds the repository`);
  process.exit(1);
}
function isNpmBuild(dir: string): boolean {
  const file = join(dir, "package.json");
  return existsSync(file) && JSON.parse(readFileSync(file, "utf8")).name === "mqx";
}
if (existsSync(OUT) && readdirSync(OUT).length > 0 && !isNpmBuild(OUT)) {
  console.error(`build_npm: refusing to replace "${OUT}": it is not empty and not an npm build`);
  process.exit(1);
}

function run(cmd: string, args: string[]): void {
  const result = spawnSync(cmd, args, { cwd: ROOT, stdio: "inherit" });
  if (result.status !== 0) {
    console.error(`build_npm: "${cmd} ${args.join(" ")}" failed`);
    process.exit(1);
  }
}

rmSync(OUT, { recursive: true, force: true });
const tsc = existsSync(join(ROOT, "node_modules/.bin/tsc"))
  ? join(ROOT, "node_modules/.bin/tsc")
  : "tsc";
run(tsc, ["-p", "tsconfig.npm.json", "--outDir", join(OUT, "esm")]);

const deno = readDenoJson(ROOT);
const exports = npmExports(deno.exports);
for (const target of Object.values(exports)) {
  if (!existsSync(join(OUT, target.default))) {
    console.error(`build_npm: export target "${target.default}" was not emitted`);
    process.exit(1);
  }
}
// Runtime dependencies (broker/ only, e.g. `yaml` for config files) come from the root package.json.
const { dependencies } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies?: Record<string, string>;
};
const pkg = {
  name: "mqx",
  version: deno.version,
  description:
    "MQTT broker, command-line clients and client library for Deno, Bun, Node and browsers",
  license: deno.license,
  type: "module",
  sideEffects: false,
  engines: { node: ">=20" },
  exports,
  ...(dependencies === undefined ? {} : { dependencies }),
  main: exports["."]?.default,
  types: exports["."]?.types,
  ...(existsSync(join(OUT, "esm/cli/main.js")) ? { bin: { mq: "./esm/cli/main.js" } } : {}),
  files: [
    "esm/",
    "!esm/**/*_test.*",
    "!esm/tests/",
    // Test fixtures and helpers that only tests import.
    "!esm/**/_*fixtures.*",
    "!esm/**/_test_*",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
  ],
  keywords: ["mqtt", "mqtt5", "broker", "client", "iot", "deno", "bun"],
};
writeFileSync(join(OUT, "package.json"), JSON.stringify(pkg, null, 2) + "\n");
for (const file of ["README.md", "LICENSE", "CHANGELOG.md"]) {
  copyFileSync(join(ROOT, file), join(OUT, file));
}
console.log(
  `build_npm: mqx@${deno.version} built in ${OUT} (${Object.keys(exports).length} exports)`,
);
