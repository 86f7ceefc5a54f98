/**
 * `scripts/release.ts --dry-run` (issue 8) into a temporary directory: the five binaries
 * named with the version, the npm tarball and `SHA256SUMS`, nothing else, and nothing
 * uploaded; the checksums verify with `sha256sum -c`; the tarball is the package at this
 * version; the host binary runs; and the README's install section names exactly these files.
 *
 * It builds five ~110 MB binaries and the npm package (20 to 30 seconds with Bun's
 * cross-compilation runtimes cached), so it runs once per gate, in the test:package step.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { installSection, releaseNames } from "./_readme.ts";
import {
  CI,
  denoJsonVersion,
  localTool,
  ROOT,
  run,
  SKIP_PACKAGE_TESTS,
  tempDir,
  which,
} from "./_run.ts";

const VERSION = denoJsonVersion();
const TARGETS = ["linux-x64", "linux-arm64", "darwin-arm64", "darwin-x64", "windows-x64"];
const BINARIES = TARGETS.map((t) => `mq-${VERSION}-${t}${t.startsWith("windows") ? ".exe" : ""}`);
const TARBALL = `mqx-${VERSION}.tgz`;

const deno = localTool("deno") ?? which("deno");
const npm = which("npm");
const SKIP = SKIP_PACKAGE_TESTS !== false
  ? SKIP_PACKAGE_TESTS
  : (deno === undefined || npm === undefined) && !CI
  ? "deno or npm is not installed"
  : false;

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

test(
  "release.ts --dry-run builds the binaries, the npm tarball and SHA256SUMS, and uploads nothing",
  { timeout: 600_000, skip: SKIP },
  async (t) => {
    const out = tempDir("mq-release-");
    t.after(() => rmSync(out, { recursive: true, force: true }));
    const started = Date.now();
    const result = await run(
      deno!,
      ["run", "-A", join(ROOT, "scripts/release.ts"), "--dry-run", "--outdir", out],
      { cwd: ROOT, timeoutMs: 540_000 },
    );
    t.diagnostic(`release.ts --dry-run took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(result.code, 0, result.stderr);

    // Exactly the release files, and the README's install section names exactly them.
    const files = readdirSync(out).sort();
    assert.deepEqual(files, [...BINARIES, TARBALL, "SHA256SUMS"].sort());
    assert.deepEqual(releaseNames(installSection()), files);

    // Nothing uploaded; the plan names every file.
    assert.match(result.stdout, /Dry run: nothing was uploaded/);
    for (const file of files) assert.ok(result.stdout.includes(file), `${file} not in the plan`);

    for (const name of BINARIES) {
      const { mode, size } = statSync(join(out, name));
      assert.ok(size > 1_000_000, `${name} is ${size} bytes`);
      assert.equal(mode & 0o111, 0o111, `${name} is not executable`);
    }
    const host = `${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;
    if (TARGETS.includes(host) && host !== "windows-x64") {
      const version = await run(join(out, `mq-${VERSION}-${host}`), ["--version"], {
        cwd: out,
        timeoutMs: 30_000,
      });
      assert.equal(version.code, 0, version.stderr);
      assert.equal(version.stdout.startsWith(`mq ${VERSION} (bun `), true, version.stdout);
    }

    // SHA256SUMS: sha256sum's format, one line per other file, and the digests match.
    const sums = readFileSync(join(out, "SHA256SUMS"), "utf8");
    const lines = sums.trimEnd().split("\n");
    assert.deepEqual(
      lines.map((line) => line.replace(/^[0-9a-f]{64} {2}/, "")).sort(),
      [...BINARIES, TARBALL].sort(),
    );
    const sha256sum = which("sha256sum");
    if (sha256sum !== undefined) {
      const checked = await run(sha256sum, ["-c", "SHA256SUMS"], { cwd: out, timeoutMs: 60_000 });
      assert.equal(checked.code, 0, checked.stdout + checked.stderr);
      assert.equal(checked.stdout.match(/: OK$/gm)?.length, lines.length, checked.stdout);
    } else {
      for (const line of lines) {
        const [digest, name] = line.split("  ");
        assert.equal(sha256(join(out, name!)), digest, name);
      }
    }

    // The tarball is the npm package at this version.
    const tar = which("tar");
    if (tar !== undefined) {
      const listed = await run(tar, ["-xzOf", TARBALL, "package/package.json"], {
        cwd: out,
        timeoutMs: 30_000,
      });
      assert.equal(listed.code, 0, listed.stderr);
      const pkg = JSON.parse(listed.stdout) as { name: string; version: string; bin: unknown };
      assert.deepEqual([pkg.name, pkg.version], ["mqx", VERSION]);
      assert.deepEqual(pkg.bin, { mq: "./esm/cli/main.js" });
    }
  },
);
