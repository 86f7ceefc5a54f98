/**
 * Builds the single-file `mq` binaries from `cli/main.ts`.
 *
 * By default it runs `bun build --compile --minify --bytecode` (Bun from node_modules) for
 * every target into `dist/mq-<os>-<arch>` (`.exe` on Windows). Bun downloads the runtime of a
 * foreign target from the npm registry once and caches it, so cross-compiling works without
 * any other network access. `--deno` runs `deno compile` instead, into `dist/deno/`; it
 * downloads `denort` from dl.deno.land, so it needs a machine that can reach it (or a
 * `DENORT_BIN` environment variable naming a local `denort` binary).
 *
 * Run: `deno run -A scripts/compile.ts [options]` (or `deno task compile`, `npm run compile`)
 *
 * Options:
 *   --host             build only the target of this machine
 *   --target T         build only target T (repeatable, or comma-separated): linux-x64,
 *                      linux-arm64, darwin-arm64, darwin-x64, windows-x64
 *   --outdir DIR       write the binaries to DIR (default: dist, or dist/deno with --deno)
 *   --no-bytecode      skip Bun's bytecode cache (smaller binary, slower start-up)
 *   --deno             use `deno compile` instead of `bun build --compile`
 *   -h, --help         show this help
 *
 * The binaries' paths are printed one per line on standard output (progress goes to standard
 * error), so a script can capture them; the exit code is 1 if any target failed.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import process from "node:process";

const ROOT = new URL("..", import.meta.url).pathname;
const ENTRY = join(ROOT, "cli/main.ts");

/** A target: its name in `dist/`, Bun's `--target` and Deno's `--target`. */
interface Target {
  name: string;
  bun: string;
  deno: string;
  exe: string;
}

const TARGETS: readonly Target[] = [
  { name: "linux-x64", bun: "bun-linux-x64", deno: "x86_64-unknown-linux-gnu", exe: "" },
  { name: "linux-arm64", bun: "bun-linux-arm64", deno: "aarch64-unknown-linux-gnu", exe: "" },
  { name: "darwin-arm64", bun: "bun-darwin-arm64", deno: "aarch64-apple-darwin", exe: "" },
  { name: "darwin-x64", bun: "bun-darwin-x64", deno: "x86_64-apple-darwin", exe: "" },
  { name: "windows-x64", bun: "bun-windows-x64", deno: "x86_64-pc-windows-msvc", exe: ".exe" },
];

const HELP = `Usage: deno run -A scripts/compile.ts [options]

Builds dist/mq-<os>-<arch> from cli/main.ts with bun build --compile --minify --bytecode.

Options:
  --host          build only the target of this machine
  --target T      build only target T (repeatable or comma-separated): ${
  TARGETS.map((t) => t.name).join(", ")
}
  --outdir DIR    write the binaries to DIR (default: dist, or dist/deno with --deno)
  --no-bytecode   skip Bun's bytecode cache (smaller binary, slower start-up)
  --deno          use deno compile instead (needs network access to dl.deno.land)
  -h, --help      show this help`;

function fail(message: string): never {
  console.error(`compile: ${message}`);
  process.exit(1);
}

/** The project's own copy of a tool, else the one on PATH. */
function tool(name: string): string {
  const local = join(ROOT, "node_modules/.bin", name);
  return existsSync(local) ? local : name;
}

function hostTarget(): string {
  const os = process.platform === "win32" ? "windows" : process.platform;
  return `${os}-${process.arch}`;
}

interface Options {
  targets: Target[];
  outDir: string;
  bytecode: boolean;
  deno: boolean;
}

function parseOptions(args: readonly string[]): Options {
  const names: string[] = [];
  let outDir: string | undefined;
  let bytecode = true;
  let deno = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = (): string => {
      const v = inline ?? args[++i];
      if (v === undefined || v === "") fail(`option "${flag}" needs a value`);
      return v;
    };
    switch (flag) {
      case "-h":
      case "--help":
        console.log(HELP);
        process.exit(0);
        break;
      case "--host":
        names.push(hostTarget());
        break;
      case "--target":
        names.push(...value().split(",").map((s) => s.trim().replace(/^bun-/, "")));
        break;
      case "--outdir":
      case "--out-dir":
        outDir = value();
        break;
      case "--no-bytecode":
        bytecode = false;
        break;
      case "--deno":
        deno = true;
        break;
      default:
        fail(`unknown option "${arg}" (see --help)`);
    }
  }
  const targets = names.length === 0 ? [...TARGETS] : [];
  for (const name of names) {
    const target = TARGETS.find((t) => t.name === name);
    if (target === undefined) {
      fail(`unknown target "${name}": expected one of ${TARGETS.map((t) => t.name).join(", ")}`);
    }
    if (!targets.includes(target)) targets.push(target);
  }
  return {
    targets,
    outDir: outDir === undefined ? join(ROOT, deno ? "dist/deno" : "dist") : resolve(outDir),
    bytecode,
    deno,
  };
}

function commandFor(target: Target, outFile: string, options: Options): [string, string[]] {
  if (options.deno) {
    return [tool("deno"), [
      "compile",
      "-A",
      "--no-check",
      `--target=${target.deno}`,
      `--output=${outFile}`,
      ENTRY,
    ]];
  }
  return [tool("bun"), [
    "build",
    "--compile",
    "--minify",
    // --bytecode needs an explicit ESM format: main.ts awaits at the top level.
    ...(options.bytecode ? ["--bytecode", "--format=esm"] : []),
    `--target=${target.bun}`,
    `--outfile=${outFile}`,
    ENTRY,
  ]];
}

const options = parseOptions(process.argv.slice(2));
mkdirSync(options.outDir, { recursive: true });
const failed: string[] = [];
for (const target of options.targets) {
  const outFile = join(options.outDir, `mq-${target.name}${target.exe}`);
  const [cmd, args] = commandFor(target, outFile, options);
  rmSync(outFile, { force: true });
  const started = performance.now();
  const result = spawnSync(cmd, args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    encoding: "utf8",
  });
  const ms = Math.round(performance.now() - started);
  if (result.status !== 0 || !existsSync(outFile)) {
    console.error(`compile: ${target.name} FAILED (${cmd} ${args.join(" ")})`);
    const output = result.stderr || result.stdout || String(result.error ?? "");
    console.error(output.split("\nStack backtrace:")[0]!.trimEnd());
    failed.push(target.name);
    continue;
  }
  const mb = (statSync(outFile).size / 1e6).toFixed(1);
  const shown = relative(ROOT, outFile).startsWith("..") ? outFile : relative(ROOT, outFile);
  console.error(`compile: ${shown}  ${mb} MB  ${ms} ms`);
  console.log(outFile);
}
if (failed.length > 0) {
  const hint = options.deno
    ? " (deno compile downloads denort from dl.deno.land; set DENORT_BIN to a local copy offline)"
    : "";
  fail(`${failed.length} of ${options.targets.length} targets failed: ${failed.join(", ")}${hint}`);
}
