/**
 * Every fenced code block of README.md and docs/ is checked, so the docs cannot rot:
 *
 * - `ts`/`typescript`: type-checked with `deno check` (all blocks in one run) and run in a
 *   subprocess of the current runtime, against a broker on free ports (see
 *   `_docs_runtime.ts`); `ts ignore` blocks are type-checked only.
 * - `yaml`: parsed with `parseBrokerConfig(…, { strict: true })`, unless it has a top-level
 *   `jobs:`, `on:` or `services:` key (a CI workflow or compose file, not an mq config).
 * - `conf`: parsed as a mosquitto.conf the same way.
 * - `sh`/`bash`/`shell`: every `mq …` command (also `npx mq`, `./mq-<version>-<target>`,
 *   `dist/mq-<target>`, `deno run -A cli/main.ts`) goes through the real argument parser,
 *   without network actions; other commands are not run.
 * - `json`: `JSON.parse`. Other languages and untagged blocks are not checked.
 *
 * Under Node (the npm build's copy) TypeScript blocks are skipped: Node 20 cannot run them.
 *
 * @module
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { test } from "../_testing.ts";
import { parseBrokerConfig } from "../../broker/config.ts";
import { parseClientArgsSync } from "../../cli/_args.ts";
import { parseBenchArgs } from "../../cli/_bench_args.ts";
import { runBroker } from "../../cli/broker.ts";
import { type PasswdHost, runPasswd } from "../../cli/passwd.ts";
import {
  type CodeBlock,
  findRoot,
  moduleName,
  mqArgs,
  readBlocks,
  shellCommands,
  toModule,
} from "./_blocks.ts";

const root = findRoot();
const harness = dirname(fileURLToPath(import.meta.url));
const isDeno = process.versions.deno !== undefined;
const isBun = process.versions.bun !== undefined;
const blocks = root === undefined ? [] : readBlocks(root);
const TS = new Set(["ts", "typescript"]);
const SHELL = new Set(["sh", "bash", "shell"]);

function run(
  file: string,
  args: readonly string[],
  options: { timeout: number; cwd?: string },
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, {
      timeout: options.timeout,
      cwd: options.cwd,
      env: { ...process.env, NO_COLOR: "1" },
      maxBuffer: 16 * 1024 * 1024,
    }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, output: `${stdout}${stderr}${error?.killed ? "\n(timed out)" : ""}` });
    });
  });
}

/** `deno check` on every TypeScript block at once: the diagnostics per module name. */
let checked: Promise<{ output: string; failed: boolean }> | undefined;
function checkAll(): Promise<{ output: string; failed: boolean }> {
  checked ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "mq-docs-check-"));
    try {
      const files = blocks.filter((b) => TS.has(b.lang)).map((block) => {
        const file = join(dir, moduleName(block));
        writeFileSync(file, toModule(block, { root: root!, harness, ws: "npm:ws" }));
        return file;
      });
      const deno = join(root!, "node_modules", ".bin", "deno");
      const { code, output } = await run(
        deno,
        ["check", "--config", join(root!, "deno.json"), ...files],
        { timeout: 50_000, cwd: root! },
      );
      return { output, failed: code !== 0 };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  })();
  return checked;
}

/** The diagnostics that point into one module (`deno check` prints `at file:///…:line:col`). */
function diagnosticsOf(output: string, name: string): string[] {
  return output.replace(/^Check .*\n/gm, "").split(/\n\s*\n/)
    .filter((chunk) => chunk.includes(`/${name}:`));
}

async function checkTypeScript(block: CodeBlock): Promise<void> {
  const { output, failed } = await checkAll();
  const own = diagnosticsOf(output, moduleName(block));
  assert.deepEqual(own, [], `deno check found errors in the block:\n${own.join("\n\n")}`);
  if (failed && !/_md_\d+\.ts:\d+/.test(output)) {
    // Errors outside the blocks (in the harness or the package) fail every block.
    assert.fail(`deno check failed:\n${output}`);
  }
  if (block.attributes.includes("ignore")) return;
  const dir = mkdtempSync(join(tmpdir(), "mq-docs-run-"));
  try {
    const file = join(dir, moduleName(block));
    if (isDeno) {
      writeFileSync(file, toModule(block, { root: root!, harness, ws: "npm:ws" }));
      const result = await run(
        process.execPath,
        ["run", "-A", "--no-check", "--config", join(root!, "deno.json"), file],
        { timeout: 15_000, cwd: root! },
      );
      assert.equal(result.code, 0, `the block failed under Deno:\n${result.output}`);
    } else {
      const ws = pathToFileURL(join(root!, "node_modules", "ws", "wrapper.mjs")).href;
      writeFileSync(file, toModule(block, { root: root!, harness, ws }));
      const result = await run(process.execPath, [file], { timeout: 15_000, cwd: root! });
      assert.equal(result.code, 0, `the block failed under Bun:\n${result.output}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function isMqConfig(text: string): boolean {
  return !/^(jobs|on|services):/m.test(text);
}

function checkConfig(block: CodeBlock, format: "yaml" | "mosquitto"): void {
  const config = parseBrokerConfig(block.text, `${block.file}:${block.line}`, {
    strict: true,
    format,
  });
  assert.deepEqual(config.warnings, []);
}

function memoryPasswdHost(): PasswdHost {
  const files = new Map<string, Uint8Array>();
  const out = { isTTY: false, write() {}, writeText() {} };
  return {
    stdout: out,
    stderr: out,
    readFile: (path) => {
      const data = files.get(path);
      return data === undefined ? Promise.reject(new Error("not found")) : Promise.resolve(data);
    },
    writeFile: (path, data) => {
      files.set(path, data);
      return Promise.resolve();
    },
    rename: (from, to) => {
      const data = files.get(from);
      if (data !== undefined) files.set(to, data);
      files.delete(from);
      return Promise.resolve();
    },
    removeFile: (path) => {
      files.delete(path);
      return Promise.resolve();
    },
    readPassword: () => Promise.resolve("secret"),
  } as PasswdHost;
}

/** Parse one `mq` command line with the real parsers; a message when it is refused. */
async function mqUsageError(args: readonly string[]): Promise<string | undefined> {
  const [command, ...rest] = args;
  switch (command) {
    case "-h":
    case "--help":
    case "help":
    case "--version":
    case "version":
      return undefined;
    case "pub":
    case "sub":
    case "rr": {
      const result = parseClientArgsSync(command, rest);
      return result.kind === "error" ? result.message : undefined;
    }
    case "bench": {
      const result = parseBenchArgs(rest);
      return result.kind === "error" ? result.message : undefined;
    }
    case "broker": {
      // The options before --help are parsed; --help then stops before anything starts.
      const lines: string[] = [];
      const code = await runBroker([...rest, "--help"], {
        onSignal: () => () => {},
        stderr: (line: string) => void lines.push(line),
      });
      const errors = lines.filter((line) => line.startsWith("Error"));
      return code === 3 && errors.length === 0 ? undefined : errors.join("\n") || `exit ${code}`;
    }
    case "passwd": {
      // Against files in memory: nothing touches the disk.
      const code = await runPasswd(rest, memoryPasswdHost());
      return code === 0 ? undefined : `exit ${code}`;
    }
  }
  return `unknown command "${command ?? ""}"`;
}

async function checkShell(block: CodeBlock): Promise<void> {
  for (const words of shellCommands(block.text)) {
    const args = mqArgs(words);
    if (args === undefined) continue;
    const error = await mqUsageError(args);
    assert.equal(error, undefined, `"${words.join(" ")}" is refused: ${error}`);
  }
}

test("docs: the documentation files are found", () => {
  if (root === undefined) {
    // The npm build's copy of the tests outside the repository: there are no docs to check.
    return;
  }
  assert.ok(blocks.length > 0);
  assert.ok(blocks.some((b) => b.file === "README.md"));
});

for (const block of blocks) {
  const name = `docs: ${block.file}:${block.line} (${block.lang || "none"})`;
  if (TS.has(block.lang)) {
    const skip = isDeno || isBun ? false : "TypeScript blocks run under Deno and Bun only";
    test(name, { skip, timeout: 60_000 }, () => checkTypeScript(block));
  } else if (block.lang === "yaml" || block.lang === "yml") {
    const skip = isMqConfig(block.text) ? false : "not an mq config (workflow or compose file)";
    test(name, { skip }, () => checkConfig(block, "yaml"));
  } else if (block.lang === "conf") {
    test(name, () => checkConfig(block, "mosquitto"));
  } else if (SHELL.has(block.lang)) {
    test(name, { timeout: 10_000 }, () => checkShell(block));
  } else if (block.lang === "json") {
    test(name, () => void JSON.parse(block.text));
  }
}
