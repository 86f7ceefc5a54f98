/**
 * End-to-end check of the compiled `mq` binaries (issue 5, "Binaries"): `scripts/compile.ts`
 * builds the host binary and the linux-arm64 one into a temporary directory; each one prints
 * its version and target, runs `mq broker` on a free port, and carries a message from
 * `mq pub` to `mq sub -C 1`. The arm64 binary runs under qemu-user on other hosts.
 *
 * Building and starting ~110 MB binaries (slowly, under qemu) is costly, so this runs under
 * Deno only: once per gate.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { VERSION } from "../../version.ts";
import { freePort, type Proc, runToEnd, start, stop } from "./_process.ts";

const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
const SKIP_RUNNER = isDeno ? false : "built and run once per gate under Deno";
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";
const TIMEOUT = { timeout: 120_000 };
/** How long one step may take: generous, since the arm64 binary starts ~100x slower under qemu. */
const STEP_MS = 30_000;

/** The host's target name, as scripts/compile.ts spells it. */
function hostTarget(): string {
  return `${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;
}

/** The first `name` on PATH, or `undefined`. */
function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

interface Target {
  /** scripts/compile.ts's name for it. */
  name: string;
  /** What `mq --version` reports: `process.platform`-`process.arch` of the binary. */
  reports: string;
  /** The command prefix that runs the binary (an emulator), if any. */
  runner: string[];
  /** Why it is skipped here, or false. */
  skip: string | false;
  /** What is missing to run it (fails the test on CI, where nothing may be missing). */
  missing?: string;
}

function targets(): Target[] {
  const host = hostTarget();
  const list: Target[] = [{
    name: host,
    reports: `${process.platform}-${process.arch}`,
    runner: [],
    skip: false,
  }];
  if (host === "linux-arm64") return list;
  const qemu = which("qemu-aarch64-static");
  let skip: string | false = false;
  let missing: string | undefined;
  if (process.platform !== "linux") skip = "linux-arm64 runs under qemu-user on Linux hosts only";
  else if (qemu === undefined || !existsSync(join(ARM64_SYSROOT, "lib/ld-linux-aarch64.so.1"))) {
    const why = "qemu-aarch64-static or the arm64 libc is missing " +
      "(apt-get install qemu-user-static libc6-arm64-cross)";
    // On CI the test runs, and fails on the missing emulator, instead of skipping.
    skip = process.env.CI === "true" ? false : why;
    missing = why;
  }
  list.push({
    name: "linux-arm64",
    reports: "linux-arm64",
    // Emulate the Raspberry Pi 3's Cortex-A53 (ARMv8.0), the oldest CPU the binary is for.
    runner: qemu === undefined ? [] : [qemu, "-cpu", "cortex-a53", "-L", ARM64_SYSROOT],
    skip,
    ...(missing === undefined ? {} : { missing }),
  });
  return list;
}

/** Build one target with scripts/compile.ts into a fresh temporary directory. */
async function build(t: TestContext, target: Target): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "mq-binary-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const result = await runToEnd(process.execPath, [
    "run",
    "-A",
    join(ROOT, "scripts/compile.ts"),
    "--target",
    target.name,
    "--outdir",
    dir,
  ], 90_000);
  assert.equal(result.code, 0, result.stderr);
  const file = result.stdout.trim();
  assert.ok(existsSync(file), `${file} was not built: ${result.stderr}`);
  return file;
}

// Top-level tests, not describe(): Deno 2.9 never runs t.after() hooks of tests nested in
// describe(), and these hooks stop processes and delete ~220 MB of binaries.
if (SKIP_RUNNER !== false) {
  test("mq binaries build and run end to end", { skip: SKIP_RUNNER }, () => {});
}
for (const target of SKIP_RUNNER === false ? targets() : []) {
  test(
    `mq-${target.name} prints its version and carries a message from pub to sub`,
    { ...TIMEOUT, skip: target.skip },
    async (t) => {
      assert.equal(target.missing, undefined, `Missing on CI: ${target.missing}`);
      const procs: Proc[] = [];
      t.after(async () => {
        for (const proc of procs) await stop(proc);
      });
      const binary = await build(t, target);
      const [cmd, ...prefix] = [...target.runner, binary];
      const mq = (...args: string[]): Proc => {
        const proc = start(cmd!, [...prefix, ...args]);
        procs.push(proc);
        return proc;
      };

      const version = await runToEnd(cmd!, [...prefix, "--version"], STEP_MS);
      assert.equal(version.code, 0, version.stderr);
      assert.match(
        version.stdout,
        new RegExp(`^mq ${VERSION.replaceAll(".", "\\.")} \\(bun \\S+, ${target.reports}\\)\\n$`),
      );

      // The port is free when chosen but may be taken before the broker binds it: retry once.
      let port = 0;
      let broker: Proc | undefined;
      for (let attempt = 1; broker === undefined; attempt++) {
        port = await freePort();
        const candidate = mq("broker", "-v", "-p", String(port));
        try {
          await candidate.waitForStderr(/: mq version \S+ running\n/, STEP_MS);
          broker = candidate;
        } catch (error) {
          await stop(candidate);
          if (attempt === 2) throw error;
        }
      }
      assert.match(
        broker.stderr(),
        new RegExp(`Opening listen socket on 127\\.0\\.0\\.1 port ${port}`),
      );

      const sub = mq("sub", "-C", "1", "-t", "t", "-h", "127.0.0.1", "-p", String(port));
      // Ready once the broker has acknowledged the subscription (its -v log line).
      await Promise.race([
        broker.waitForStderr(/Sending SUBACK to /, STEP_MS),
        sub.exited.then((code) => {
          throw new Error(`mq sub exited with ${code} before subscribing: ${sub.stderr()}`);
        }),
      ]);
      const pub = await runToEnd(
        cmd!,
        [...prefix, "pub", "-t", "t", "-m", "hello", "-h", "127.0.0.1", "-p", String(port)],
        STEP_MS,
      );
      assert.equal(pub.code, 0, pub.stderr);
      const subCode = await Promise.race([
        sub.exited,
        new Promise<never>((_, reject) => {
          const timer = setTimeout(() => reject(new Error("mq sub -C 1 did not exit")), STEP_MS);
          void sub.exited.then(() => clearTimeout(timer));
        }),
      ]);
      assert.equal(subCode, 0, sub.stderr());
      assert.equal(new TextDecoder().decode(sub.stdout()), "hello\n");

      // process.kill(), not child.kill(): Deno's ChildProcess reports a child it signalled as
      // killed by that signal even when the child handled it and exited with 0.
      process.kill(broker.child.pid!, "SIGTERM");
      assert.equal(await broker.exited, 0, broker.stderr());
      assert.match(broker.stderr(), /: mq version \S+ terminating/);
    },
  );
}
