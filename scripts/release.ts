/**
 * Builds a release into `dist/` (issue 8): the five `mq` binaries named with the version,
 * the npm tarball, and `SHA256SUMS` over them, then prints what would be uploaded where.
 *
 *   dist/mq-<version>-linux-x64          dist/mq-<version>-darwin-arm64
 *   dist/mq-<version>-linux-arm64        dist/mq-<version>-darwin-x64
 *   dist/mq-<version>-windows-x64.exe    dist/mqx-<version>.tgz
 *   dist/SHA256SUMS                      (`sha256sum -c SHA256SUMS` checks them)
 *
 * Steps: the version check (deno.json, version.ts and CHANGELOG.md agree); the binaries with
 * `scripts/compile.ts`, renamed with the version, and the host binary's `--version` checked;
 * the npm build with `scripts/build_npm.ts` into a directory of its own and `npm pack`;
 * `SHA256SUMS`. With `--dry-run` (what CI runs) it then validates the uploads without making
 * them (`npm publish --dry-run` on the tarball, `deno publish --dry-run`) and prints the
 * plan. Without it, it prints the commands that upload the files: publishing is done by
 * hand, since no machine of this project can reach GitHub or JSR. Either way nothing is
 * uploaded. Earlier files of the same version in the output directory are replaced; other
 * files there are left alone.
 *
 * Run: `deno run -A scripts/release.ts [--dry-run] [--outdir DIR]` (or
 * `deno task release:dry-run`)
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import process from "node:process";
import { readDenoJson } from "./_package.ts";

const ROOT = new URL("..", import.meta.url).pathname;

const HELP = `Usage: deno run -A scripts/release.ts [--dry-run] [--outdir DIR]

Builds the release files into dist/: mq-<version>-<os>-<arch>[.exe] (five binaries),
mqx-<version>.tgz (the npm package) and SHA256SUMS. Uploads nothing.

Options:
  --dry-run       also validate the uploads (npm publish --dry-run, deno publish --dry-run)
  --outdir DIR    write the files to DIR (default: dist)
  -h, --help      show this help`;

/** The targets `scripts/compile.ts` builds, and their file suffix. */
const TARGETS: readonly { name: string; exe: string }[] = [
  { name: "linux-x64", exe: "" },
  { name: "linux-arm64", exe: "" },
  { name: "darwin-arm64", exe: "" },
  { name: "darwin-x64", exe: "" },
  { name: "windows-x64", exe: ".exe" },
];

/** A step failed: reported by main(), after the staging directory is removed. */
class ReleaseError extends Error {
  override name = "ReleaseError";
}

function fail(message: string): never {
  throw new ReleaseError(message);
}

function log(message: string): void {
  console.error(`release: ${message}`);
}

/** The project's own copy of a tool, else the one on PATH. */
function tool(name: string): string {
  const local = join(ROOT, "node_modules/.bin", name);
  return existsSync(local) ? local : name;
}

/**
 * Run a command and return its standard output; fail the release when it fails. Its
 * standard error is passed through, or with `quiet` shown only if it fails.
 */
function step(
  what: string,
  cmd: string,
  args: string[],
  options: { cwd?: string; quiet?: boolean } = {},
): string {
  log(what);
  const result = spawnSync(cmd, args, {
    cwd: options.cwd ?? ROOT,
    stdio: ["ignore", "pipe", options.quiet === true ? "pipe" : "inherit"],
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, NO_COLOR: "1" },
  });
  if (result.status !== 0) {
    if (result.stdout) process.stderr.write(result.stdout);
    if (result.stderr) process.stderr.write(result.stderr);
    fail(`${what} failed: "${basename(cmd)} ${args.join(" ")}" exited with ${result.status}`);
  }
  return result.stdout;
}

interface Options {
  dryRun: boolean;
  outDir: string;
}

function parseOptions(args: readonly string[]): Options {
  let dryRun = false;
  let outDir = join(ROOT, "dist");
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "-h" || arg === "--help") {
      console.log(HELP);
      process.exit(0);
    } else if (arg === "--dry-run") {
      dryRun = true;
    } else if (arg === "--outdir" || arg.startsWith("--outdir=")) {
      const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[++i];
      if (value === undefined || value === "") fail(`option "--outdir" needs a value`);
      outDir = resolve(value);
    } else {
      fail(`unknown option "${arg}" (see --help)`);
    }
  }
  return { dryRun, outDir };
}

/** The SHA-256 of a file, read in chunks (the binaries are over 100 MB each). */
function sha256(file: string): string {
  const hash = createHash("sha256");
  const buffer = new Uint8Array(1 << 20);
  const fd = openSync(file, "r");
  try {
    for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0;) {
      hash.update(buffer.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

function hostTarget(): string {
  return `${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;
}

function shown(file: string): string {
  const rel = relative(ROOT, file);
  return rel.startsWith("..") ? file : rel;
}

/** Build the release files into `options.outDir`; returns their names. */
function build(options: Options, version: string): string[] {
  const deno = tool("deno");
  const binaryName = (t: { name: string; exe: string }) => `mq-${version}-${t.name}${t.exe}`;
  const tarballName = `mqx-${version}.tgz`;
  const release = [...TARGETS.map(binaryName), tarballName];

  step("checking the version", deno, ["run", "-A", "scripts/check_version.ts", "--source-only"]);
  if (!options.dryRun) {
    const status = spawnSync("git", ["status", "--porcelain"], { cwd: ROOT, encoding: "utf8" });
    if (status.status === 0 && status.stdout.trim() !== "") {
      fail("the working tree has uncommitted changes: release from a clean checkout");
    }
  }

  mkdirSync(options.outDir, { recursive: true });
  for (const name of [...release, "SHA256SUMS"]) {
    rmSync(join(options.outDir, name), { force: true });
  }
  // Built in a directory of its own beside the output (so the files move by rename), which
  // is removed whatever happens.
  const staging = mkdtempSync(join(options.outDir, ".release-"));
  try {
    // The binaries, all five with scripts/compile.ts.
    const binDir = join(staging, "bin");
    const built = step("building the binaries", deno, [
      "run",
      "-A",
      "scripts/compile.ts",
      "--outdir",
      binDir,
    ]).trim().split("\n").sort();
    const expected = TARGETS.map((t) => join(binDir, `mq-${t.name}${t.exe}`)).sort();
    if (JSON.stringify(built) !== JSON.stringify(expected)) {
      fail(`compile.ts built ${built.join(", ")}; expected ${expected.join(", ")}`);
    }
    for (const target of TARGETS) {
      const dest = join(options.outDir, binaryName(target));
      renameSync(join(binDir, `mq-${target.name}${target.exe}`), dest);
      chmodSync(dest, 0o755);
    }
    const host = TARGETS.find((t) => t.name === hostTarget());
    if (host !== undefined) {
      const binary = join(options.outDir, binaryName(host));
      const out = step(`running ${binaryName(host)} --version`, binary, ["--version"]);
      if (!out.startsWith(`mq ${version} `)) {
        fail(`${binaryName(host)} --version printed "${out.trim()}", not version "${version}"`);
      }
    }

    // The npm package: built from source into the staging directory, then packed.
    const npmDir = join(staging, "npm");
    step("building the npm package", deno, [
      "run",
      "-A",
      "scripts/build_npm.ts",
      "--outdir",
      npmDir,
    ]);
    const pkg = JSON.parse(readFileSync(join(npmDir, "package.json"), "utf8"));
    if (pkg.version !== version) {
      fail(`the npm build has version "${pkg.version}", not "${version}"`);
    }
    const packed = JSON.parse(
      step("packing the npm package", "npm", [
        "pack",
        "--json",
        "--pack-destination",
        options.outDir,
      ], { cwd: npmDir }),
    ) as { filename: string }[];
    if (packed[0]?.filename !== tarballName) {
      fail(`npm pack wrote "${packed[0]?.filename}", expected "${tarballName}"`);
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }

  // SHA256SUMS in sha256sum's format: "<hex digest>  <file name>", one line per file.
  const sums = release.map((name) => `${sha256(join(options.outDir, name))}  ${name}\n`);
  writeFileSync(join(options.outDir, "SHA256SUMS"), sums.join(""));

  if (options.dryRun) {
    step("checking the npm upload (npm publish --dry-run)", "npm", [
      "publish",
      "--dry-run",
      join(options.outDir, tarballName),
    ], { cwd: options.outDir, quiet: true });
    step("checking the JSR upload (deno publish --dry-run)", deno, [
      "publish",
      "--dry-run",
      "--allow-dirty",
    ], { quiet: true });
  }
  return [...release, "SHA256SUMS"];
}

/** Print the files and what would be uploaded where. */
function report(options: Options, version: string, files: string[]): void {
  const dir = shown(options.outDir);
  console.log(`mq ${version} release files in ${dir}:`);
  for (const name of files) {
    const mb = (statSync(join(options.outDir, name)).size / 1e6).toFixed(1);
    console.log(`  ${name.padEnd(32)} ${mb.padStart(6)} MB`);
  }
  const tarball = files.find((name) => name.endsWith(".tgz"))!;
  const assets = files.map((name) => join(dir, name)).join(" ");
  console.log(
    options.dryRun ? "\nDry run: nothing was uploaded. It would upload:" : "\nTo publish:",
  );
  console.log(`  the release page (tag v${version}): ${files.join(", ")}`);
  console.log(`    e.g. gh release create v${version} ${assets}`);
  console.log(`  npm: ${tarball}`);
  console.log(`    npm publish ${join(dir, tarball)}`);
  console.log(`  JSR: @mqx/mq@${version} (from the source tree, by deno.json's publish settings)`);
  console.log(`    deno publish`);
  if (!options.dryRun) {
    console.log("\nNothing was uploaded: publishing is done by hand with the commands above.");
  }
}

try {
  const options = parseOptions(process.argv.slice(2));
  const { version } = readDenoJson(ROOT);
  report(options, version, build(options, version));
} catch (error) {
  if (!(error instanceof ReleaseError)) throw error;
  console.error(`release: ${error.message}`);
  process.exit(1);
}
