/**
 * Builds the npm package into `npm/` (our replacement for dnt, see ENVIRONMENT.md):
 * `tsc` emits ESM and `.d.ts` files (tests included, so the suite can run under Node on the
 * output), then `npm/package.json` is generated from `deno.json`, the single source of
 * truth for name, version and exports, and README, LICENSE and CHANGELOG are copied.
 *
 * Run: `deno run -A scripts/build_npm.ts`
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { npmExports, readDenoJson } from "./_package.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const OUT = join(ROOT, "npm");

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
run(tsc, ["-p", "tsconfig.npm.json"]);

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
    "!esm/**/_fixtures.*",
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
  `build_npm: mqx@${deno.version} built in npm/ (${Object.keys(exports).length} exports)`,
);
