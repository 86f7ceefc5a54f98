/**
 * The gate: everything CI runs, in order, with one machine-readable closing line
 * (`N passed, N failed`). `npm test` and `deno task ok` both run this file.
 *
 * Steps: format, lint, type-checks (Deno, tsc, browser lib), globals and version checks,
 * the suite under Deno (with doc examples) and Bun, the npm build and the suite under Node
 * on its output, `npm pack --dry-run`, and the package tests (tests/package/: the npm tarball
 * installed and used from Node, npx and Bun, the JSR exports under Deno, release.ts --dry-run).
 *
 * Run: `deno run -A scripts/ok.ts [--only step,step]`
 *
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";

const ROOT = new URL("..", import.meta.url).pathname;
const BIN = join(ROOT, "node_modules/.bin");
function bin(name: string): string {
  return existsSync(join(BIN, name)) ? join(BIN, name) : name;
}

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

interface Step {
  name: string;
  cmd: string;
  args: string[];
  cwd?: string;
  /** Parse test counts from the output; steps without it count as one check. */
  parse?: (out: string) => Counts | undefined;
  timeoutMs?: number;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

function lastMatch(out: string, re: RegExp): number | undefined {
  let value: number | undefined;
  for (const m of out.matchAll(re)) value = Number(m[1]);
  return value;
}

function parseDeno(out: string): Counts | undefined {
  // e.g. "ok | 120 passed (30 steps) | 0 failed | 2 ignored (3s)"
  // deno-lint-ignore no-control-regex
  const clean = out.replace(/\x1b\[[0-9;]*m/g, "");
  const m = clean.match(/(?:ok|FAILED) \| (\d+) passed[^|]*\| (\d+) failed(?: \| (\d+) ignored)?/);
  if (m === null) return undefined;
  return { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3] ?? 0) };
}

function parseBun(out: string): Counts | undefined {
  // deno-lint-ignore no-control-regex
  const clean = out.replace(/\x1b\[[0-9;]*m/g, "");
  const passed = lastMatch(clean, /^\s*(\d+) pass$/gm);
  const failed = lastMatch(clean, /^\s*(\d+) fail$/gm);
  if (passed === undefined || failed === undefined) return undefined;
  return { passed, failed, skipped: lastMatch(clean, /^\s*(\d+) skip$/gm) ?? 0 };
}

function parseNode(out: string): Counts | undefined {
  const passed = lastMatch(out, /^# pass (\d+)$/gm);
  const failed = lastMatch(out, /^# fail (\d+)$/gm);
  if (passed === undefined || failed === undefined) return undefined;
  return { passed, failed, skipped: lastMatch(out, /^# skipped (\d+)$/gm) ?? 0 };
}

const TEST_DIRS = [
  "./protocol/",
  "./socket/",
  "./client/",
  "./broker/",
  "./store/",
  "./cli/",
  "./tests/",
]
  .filter((d) => existsSync(join(ROOT, d)));

const STEPS: Step[] = [
  { name: "fmt", cmd: bin("deno"), args: ["fmt", "--check"] },
  { name: "lint", cmd: bin("deno"), args: ["lint"] },
  { name: "check:deno", cmd: bin("deno"), args: ["check", "."] },
  { name: "check:tsc", cmd: bin("tsc"), args: ["-p", "tsconfig.json"] },
  { name: "check:browser", cmd: bin("tsc"), args: ["-p", "browser-compat.tsconfig.json"] },
  { name: "check:globals", cmd: bin("deno"), args: ["run", "-A", "scripts/check_globals.ts"] },
  {
    name: "check:version",
    cmd: bin("deno"),
    args: ["run", "-A", "scripts/check_version.ts", "--source-only"],
  },
  {
    name: "check:conformance",
    cmd: bin("deno"),
    args: ["run", "-A", "scripts/conformance_report.ts", "--check"],
  },
  {
    name: "doc:lint",
    cmd: bin("deno"),
    args: [
      "doc",
      "--lint",
      "mod.ts",
      "broker/mod.ts",
      "client/browser.ts",
      "protocol/mod.ts",
      "socket/mod.ts",
      "socket/websocket.ts",
    ],
  },
  {
    name: "publish:jsr",
    cmd: bin("deno"),
    args: ["publish", "--dry-run", "--allow-dirty"],
  },
  {
    name: "test:deno",
    cmd: bin("deno"),
    args: ["test", "-A", "--doc", ...TEST_DIRS, "mod.ts", "version.ts"],
    parse: parseDeno,
    timeoutMs: 20 * 60_000,
  },
  {
    name: "test:bun",
    cmd: bin("bun"),
    args: ["test", "--timeout", "60000", ...TEST_DIRS],
    parse: parseBun,
    timeoutMs: 20 * 60_000,
  },
  { name: "bundle:browser", cmd: bin("deno"), args: ["run", "-A", "scripts/bundle_size.ts"] },
  { name: "build:npm", cmd: bin("deno"), args: ["run", "-A", "scripts/build_npm.ts"] },
  { name: "check:version(npm)", cmd: bin("deno"), args: ["run", "-A", "scripts/check_version.ts"] },
  { name: "pack:npm", cmd: "npm", args: ["pack", "--dry-run"], cwd: join(ROOT, "npm") },
  {
    // The packages as users install them: the npm tarball under Node, npx and Bun, the JSR
    // exports under Deno, and release.ts --dry-run. Skipped in the other test steps.
    name: "test:package",
    cmd: bin("deno"),
    args: ["test", "-A", "tests/package/"],
    env: { MQ_PACKAGE_TESTS: "1" },
    parse: parseDeno,
    timeoutMs: 15 * 60_000,
  },
  {
    name: "test:node",
    cmd: "node",
    args: ["--test", "--test-reporter=tap", "npm/esm/"],
    parse: parseNode,
    timeoutMs: 20 * 60_000,
  },
];

function runStep(step: Step): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(step.cmd, step.args, {
      cwd: step.cwd ?? ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0", ...step.env },
    });
    let out = "";
    const onData = (chunk: Uint8Array, stream: NodeJS.WriteStream) => {
      out += new TextDecoder().decode(chunk);
      stream.write(chunk);
    };
    child.stdout.on("data", (c: Uint8Array) => onData(c, process.stdout));
    child.stderr.on("data", (c: Uint8Array) => onData(c, process.stderr));
    const timer = setTimeout(() => {
      out += `\n${step.name}: timed out after ${step.timeoutMs} ms\n`;
      child.kill("SIGKILL");
    }, step.timeoutMs ?? 10 * 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out });
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: 127, out: String(err) });
    });
  });
}

const onlyIndex = process.argv.indexOf("--only");
const only = onlyIndex >= 0 ? new Set(process.argv[onlyIndex + 1]?.split(",")) : undefined;
const total: Counts = { passed: 0, failed: 0, skipped: 0 };
const summary: string[] = [];
for (const step of STEPS) {
  if (only !== undefined && !only.has(step.name)) continue;
  console.log(`\n=== ${step.name}: ${step.cmd.replace(BIN + "/", "")} ${step.args.join(" ")}`);
  const started = Date.now();
  const { code, out } = await runStep(step);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (step.parse !== undefined) {
    const counts = step.parse(out);
    if (counts === undefined) {
      total.failed++;
      summary.push(`${step.name}: FAILED (exit ${code}, no test summary found) ${seconds}s`);
      continue;
    }
    total.passed += counts.passed;
    total.failed += counts.failed;
    total.skipped += counts.skipped;
    if (code !== 0 && counts.failed === 0) total.failed++;
    summary.push(
      `${step.name}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped` +
        ` (exit ${code}) ${seconds}s`,
    );
  } else if (code === 0) {
    total.passed++;
    summary.push(`${step.name}: ok ${seconds}s`);
  } else {
    total.failed++;
    summary.push(`${step.name}: FAILED (exit ${code}) ${seconds}s`);
  }
}
console.log("\n=== summary");
for (const line of summary) console.log(line);
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.failed === 0 ? 0 : 1);
