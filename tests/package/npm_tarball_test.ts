/**
 * The npm package as users install it (issue 8): `npm pack` the npm build (`npm/`), install
 * the tarball into fresh temporary projects that hold nothing of the source tree, and use it
 * the four ways a user would: an ES module, a CommonJS module, `npx mq`, and Bun (`bun add`).
 * TypeScript users' view of it (the shipped `.d.ts` files) is type-checked too.
 *
 * It needs the npm build, so it runs in the gate's own `test:package` step, after
 * `build:npm` (see SKIP_PACKAGE_TESTS). `npm install` takes `yaml`, the one dependency,
 * from the npm cache or the registry.
 */
import { spawnSync } from "node:child_process";
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CI,
  denoJsonVersion,
  freePort,
  localTool,
  NPM_DIR,
  type Proc,
  run,
  SKIP_PACKAGE_TESTS,
  start,
  stop,
  tempDir,
  which,
  within,
} from "./_run.ts";

const TIMEOUT = { timeout: 120_000 };
/** How long one child process may take. */
const STEP_MS = 60_000;
const VERSION = denoJsonVersion();
const TOPIC = "package/round-trip";

/** Skip when a tool is missing, except on CI, where the test runs and fails on it instead. */
function skipUnless(tool: string, path: string | undefined): string | false {
  if (SKIP_PACKAGE_TESTS !== false) return SKIP_PACKAGE_TESTS;
  if (path !== undefined || CI) return false;
  return `${tool} is not installed`;
}

const npm = which("npm");
const npx = which("npx");
const node = which("node");
const bun = localTool("bun");
const tsc = localTool("tsc");
const SKIP_NPM = skipUnless("npm, npx and node", npm && npx && node);
const SKIP_BUN = SKIP_NPM || skipUnless("bun (node_modules/.bin)", bun);
const SKIP_TSC = SKIP_NPM || skipUnless("tsc (node_modules/.bin)", tsc);

/** A temporary directory, removed when the test ends. */
function freshDir(t: TestContext, prefix: string): string {
  const dir = tempDir(prefix);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * `npm pack` the npm build into a temporary directory. Each test packs and installs its own
 * copy (about a second): a fixture shared between tests could not be removed reliably, since
 * Deno skips top-level after() hooks when the last test is filtered out.
 */
async function tarball(t: TestContext): Promise<string> {
  assert.equal(npm === undefined, false, "npm is missing");
  assert.ok(
    existsSync(join(NPM_DIR, "package.json")),
    `${NPM_DIR} has no package.json: run scripts/build_npm.ts first`,
  );
  const dest = freshDir(t, "mq-pack-");
  const packed = await run(npm!, ["pack", "--json", "--pack-destination", dest], {
    cwd: NPM_DIR,
    timeoutMs: STEP_MS,
  });
  assert.equal(packed.code, 0, packed.stderr);
  const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  assert.equal(info?.filename, `mqx-${VERSION}.tgz`);
  // The tarball holds the build, without tests, test helpers or fixtures.
  const files = info.files.map((f) => f.path);
  assert.ok(files.includes("package.json") && files.includes("esm/cli/main.js"), files.join());
  assert.deepEqual(files.filter((f) => /_test\.|\/_test_|fixtures|^esm\/tests\//.test(f)), []);
  return join(dest, info.filename);
}

/** A fresh project directory with a minimal package.json. */
function freshProject(t: TestContext, prefix: string): string {
  const dir = freshDir(t, prefix);
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "mq-package-test", version: "1.0.0", private: true }, null, 2),
  );
  return dir;
}

/** A fresh project with the tarball installed by `npm install`. */
async function npmProject(t: TestContext): Promise<string> {
  const file = await tarball(t);
  const dir = freshProject(t, "mq-npm-project-");
  const installed = await run(
    npm!,
    ["install", "--no-audit", "--no-fund", "--no-update-notifier", file],
    { cwd: dir, timeoutMs: STEP_MS },
  );
  assert.equal(installed.code, 0, installed.stderr);
  assert.equal(readInstalledVersion(dir), VERSION);
  return dir;
}

function readInstalledVersion(project: string): string {
  const file = join(project, "node_modules/mqx/package.json");
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

/**
 * The round trip every script does, in plain JavaScript: an embedded broker on port 0, a
 * client that subscribes, publishes at QoS 1 and receives its own message. It expects
 * `connect` and `startBroker` in scope and leaves the message in `received`.
 */
const ROUND_TRIP = `
  const broker = await startBroker({ listeners: [{ hostname: "127.0.0.1", port: 0 }], sysInterval: 0 });
  let received;
  try {
    const client = await connect("mqtt://127.0.0.1:" + broker.addresses[0].port);
    try {
      const sub = await client.subscribe(${JSON.stringify(TOPIC)}, { qos: 1 });
      await client.publish(${JSON.stringify(TOPIC)}, "hello", { qos: 1 });
      for await (const message of sub) {
        received = {
          topic: message.topic,
          payload: new TextDecoder().decode(message.payload),
          qos: message.qos,
        };
        break;
      }
    } finally {
      await client.end();
    }
  } finally {
    await broker.close();
  }
`;

/** What every round-trip script prints as its one line of output. */
interface Report {
  received: { topic: string; payload: string; qos: number };
  version: string;
  /** Where `mqx` resolved to. */
  entry: string;
}

async function runScript(
  t: TestContext,
  cmd: string,
  project: string,
  file: string,
): Promise<Report> {
  const result = await run(cmd, [file], { cwd: project, timeoutMs: STEP_MS });
  t.diagnostic(`${file}: exit ${result.code}`);
  assert.equal(result.code, 0, `${file} failed: ${result.stderr}`);
  const line = result.stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line) as Report;
}

/** The script received its message, saw the right version, and used the installed package. */
function assertReport(report: Report, project: string): void {
  assert.deepEqual(report.received, { topic: TOPIC, payload: "hello", qos: 1 });
  assert.equal(report.version, VERSION);
  const entry = report.entry.startsWith("file:") ? fileURLToPath(report.entry) : report.entry;
  const installed = realpathSync(join(project, "node_modules/mqx"));
  assert.ok(
    realpathSync(entry).startsWith(installed + "/"),
    `"mqx" resolved to ${entry}, not into ${installed}`,
  );
}

test(
  "npm install <tarball>: an ES module imports mqx and mqx/broker and carries a message",
  { ...TIMEOUT, skip: SKIP_NPM },
  async (t) => {
    const project = await npmProject(t);
    writeFileSync(
      join(project, "esm.mjs"),
      `import { connect, VERSION } from "mqx";
import { startBroker } from "mqx/broker";
${ROUND_TRIP}
console.log(JSON.stringify({ received, version: VERSION, entry: import.meta.resolve("mqx") }));
`,
    );
    assertReport(await runScript(t, node!, project, "esm.mjs"), project);
  },
);

// Node 20.19+ (and 22.12+) can require() an ES module graph without top-level await, which
// mqx's entries are; older Node 20 releases cannot, so there a CommonJS caller needs the
// `await import()` form tested below.
const SKIP_REQUIRE = SKIP_NPM || requireModuleSkip();
function requireModuleSkip(): string | false {
  if (node === undefined) return false;
  const probe = spawnSync(node, ["-p", "process.features.require_module === true"], {
    encoding: "utf8",
    timeout: STEP_MS,
  });
  return probe.stdout.trim() === "true" ? false : "this Node cannot require() ES modules";
}

test(
  "npm install <tarball>: a CommonJS module require()s mqx and mqx/broker and carries a message",
  { ...TIMEOUT, skip: SKIP_REQUIRE },
  async (t) => {
    const project = await npmProject(t);
    writeFileSync(
      join(project, "require.cjs"),
      `"use strict";
const { connect, VERSION } = require("mqx");
const { startBroker } = require("mqx/broker");
(async () => {
${ROUND_TRIP}
  console.log(JSON.stringify({ received, version: VERSION, entry: require.resolve("mqx") }));
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`,
    );
    assertReport(await runScript(t, node!, project, "require.cjs"), project);
  },
);

test(
  "npm install <tarball>: a CommonJS module loads mqx with await import() and carries a message",
  { ...TIMEOUT, skip: SKIP_NPM },
  async (t) => {
    const project = await npmProject(t);
    writeFileSync(
      join(project, "import.cjs"),
      `"use strict";
(async () => {
  const { connect, VERSION } = await import("mqx");
  const { startBroker } = await import("mqx/broker");
${ROUND_TRIP}
  console.log(JSON.stringify({ received, version: VERSION, entry: require.resolve("mqx") }));
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`,
    );
    assertReport(await runScript(t, node!, project, "import.cjs"), project);
  },
);

test(
  "npm install <tarball>: npx mq broker, sub and pub carry a message",
  { ...TIMEOUT, skip: SKIP_NPM },
  async (t) => {
    // Registered first, so the processes stop before the project is removed.
    const procs: Proc[] = [];
    t.after(async () => {
      for (const proc of procs) await stop(proc);
    });
    const project = await npmProject(t);
    // `--no`: never fetch a package called "mq" from the registry; `--`: pass --version on.
    const mq = (...args: string[]): Proc => {
      const proc = start(npx!, ["--no", "--", "mq", ...args], project);
      procs.push(proc);
      return proc;
    };

    const version = await run(npx!, ["--no", "--", "mq", "--version"], {
      cwd: project,
      timeoutMs: STEP_MS,
    });
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, new RegExp(`^mq ${VERSION.replaceAll(".", "\\.")} \\(node `));

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
    const sub = mq("sub", "-h", "127.0.0.1", "-p", String(port), "-t", "t", "-C", "1");
    // Subscribed once the broker has acknowledged it (its -v log line).
    await Promise.race([
      broker.waitForStderr(/Sending SUBACK to /, STEP_MS),
      sub.exited.then((code) => {
        throw new Error(`npx mq sub exited with ${code} before subscribing: ${sub.stderr()}`);
      }),
    ]);
    const pub = await run(
      npx!,
      ["--no", "--", "mq", "pub", "-h", "127.0.0.1", "-p", String(port), "-t", "t", "-m", "hi"],
      { cwd: project, timeoutMs: STEP_MS },
    );
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal(
      await within(sub.exited, STEP_MS, "npx mq sub -C 1 did not exit"),
      0,
      sub.stderr(),
    );
    assert.equal(sub.stdout(), "hi\n");
  },
);

test(
  "npm install <tarball>: TypeScript checks a consumer against the shipped .d.ts files",
  { ...TIMEOUT, skip: SKIP_TSC },
  async (t) => {
    const project = await npmProject(t);
    // A consumer as `tsc --init` sets one up for Node, with no @types/node.
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "nodenext",
          target: "es2022",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        files: ["typed.mts"],
      }),
    );
    writeFileSync(
      join(project, "typed.mts"),
      `import { connect, type Message, VERSION } from "mqx";
import { type Broker, startBroker } from "mqx/broker";
import { encodePacket } from "mqx/protocol";

const broker: Broker = await startBroker({ listeners: [{ hostname: "127.0.0.1", port: 0 }] });
const client = await connect(\`mqtt://127.0.0.1:\${broker.addresses[0]!.port}\`);
// @ts-expect-error: 3 is not a QoS, so the types reached the checker
await client.publish("t", "x", { qos: 3 });
export const version: string = VERSION;
export type { Message };
export const encode: typeof encodePacket = encodePacket;
`,
    );
    const checked = await run(tsc!, ["-p", "tsconfig.json"], { cwd: project, timeoutMs: STEP_MS });
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
  },
);

test(
  "bun add <tarball>: a Bun script imports mqx and mqx/broker and carries a message",
  { ...TIMEOUT, skip: SKIP_BUN },
  async (t) => {
    const file = await tarball(t);
    const project = freshProject(t, "mq-bun-project-");
    const added = await run(bun!, ["add", file], { cwd: project, timeoutMs: STEP_MS });
    assert.equal(added.code, 0, added.stderr);
    assert.equal(readInstalledVersion(project), VERSION);
    writeFileSync(
      join(project, "app.ts"),
      `import { connect, VERSION } from "mqx";
import { startBroker } from "mqx/broker";
${ROUND_TRIP}
console.log(JSON.stringify({ received, version: VERSION, entry: import.meta.resolve("mqx") }));
`,
    );
    assertReport(await runScript(t, bun!, project, "app.ts"), project);
  },
);
