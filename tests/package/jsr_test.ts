/**
 * The JSR package as a Deno user imports it (issue 8): a fresh project outside the source
 * tree declares `"@mqx/mq": "jsr:@mqx/mq@^<version>"` as `deno add jsr:@mqx/mq` would, and
 * links that name to this repository (`"links"` in its deno.json, Deno's way to use a local
 * copy of a JSR package). Deno then resolves `@mqx/mq` and `@mqx/mq/broker` through
 * deno.json's `exports` and `imports`, as it would for the published package: only the
 * exported entries can be imported, and `yaml` comes from the package's own import map.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

const TIMEOUT = { timeout: 120_000 };
const STEP_MS = 60_000;
const VERSION = denoJsonVersion();
const EXPORTS = Object.keys(
  (JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")) as { exports: Record<string, string> })
    .exports,
);

const deno = localTool("deno") ?? which("deno");
const SKIP = SKIP_PACKAGE_TESTS !== false
  ? SKIP_PACKAGE_TESTS
  : deno === undefined && !CI
  ? "deno is not installed"
  : false;

/** A fresh Deno project that depends on `@mqx/mq`, linked to this repository. */
function project(t: TestContext): string {
  const dir = tempDir("mq-jsr-project-");
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, "deno.json"),
    JSON.stringify(
      { imports: { "@mqx/mq": `jsr:@mqx/mq@^${VERSION}` }, links: [ROOT] },
      null,
      2,
    ),
  );
  return dir;
}

/** The specifier a user writes for an export key: "." is "@mqx/mq", "./broker" "@mqx/mq/broker". */
function specifier(key: string): string {
  return key === "." ? "@mqx/mq" : `@mqx/mq/${key.replace(/^\.\//, "")}`;
}

async function deno_(t: TestContext, dir: string, args: string[]) {
  assert.ok(deno !== undefined, "deno is missing");
  const result = await run(deno, args, { cwd: dir, timeoutMs: STEP_MS });
  t.diagnostic(`deno ${args.join(" ")}: exit ${result.code}`);
  return result;
}

test(
  "jsr:@mqx/mq: every export loads and a Deno client carries a message through the broker",
  { ...TIMEOUT, skip: SKIP },
  async (t) => {
    const dir = project(t);
    writeFileSync(
      join(dir, "main.ts"),
      `import { connect, VERSION } from "@mqx/mq";
import { startBroker } from "@mqx/mq/broker";

const entries: Record<string, string[]> = {};
for (const name of ${JSON.stringify(EXPORTS.map(specifier))}) {
  entries[name] = Object.keys(await import(name)).sort();
}
const broker = await startBroker({ listeners: [{ hostname: "127.0.0.1", port: 0 }], sysInterval: 0 });
let received: { topic: string; payload: string; qos: number } | undefined;
try {
  const client = await connect(\`mqtt://127.0.0.1:\${broker.addresses[0]!.port}\`);
  try {
    const sub = await client.subscribe("package/jsr", { qos: 1 });
    await client.publish("package/jsr", "hello", { qos: 1 });
    for await (const message of sub) {
      received = { topic: message.topic, payload: new TextDecoder().decode(message.payload), qos: message.qos };
      break;
    }
  } finally {
    await client.end();
  }
} finally {
  await broker.close();
}
console.log(JSON.stringify({ received, version: VERSION, entries, resolved: import.meta.resolve("@mqx/mq/broker") }));
`,
    );
    const result = await deno_(t, dir, ["run", "-A", "main.ts"]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "") as {
      received: unknown;
      version: string;
      entries: Record<string, string[]>;
      resolved: string;
    };
    assert.deepEqual(report.received, { topic: "package/jsr", payload: "hello", qos: 1 });
    assert.equal(report.version, VERSION);
    // The subpath resolved through deno.json's exports to the linked package's source.
    assert.equal(report.resolved, new URL("broker/mod.ts", `file://${ROOT}/`).href);
    assert.deepEqual(Object.keys(report.entries).sort(), EXPORTS.map(specifier).sort());
    for (const [name, keys] of Object.entries(report.entries)) {
      assert.ok(keys.length > 0, `${name} exports nothing`);
    }
    assert.ok(report.entries["@mqx/mq"]!.includes("connect"));
    assert.ok(report.entries["@mqx/mq/broker"]!.includes("startBroker"));
  },
);

test(
  "jsr:@mqx/mq: a module that is not in deno.json's exports cannot be imported",
  { ...TIMEOUT, skip: SKIP },
  async (t) => {
    const dir = project(t);
    writeFileSync(
      join(dir, "main.ts"),
      `try {
  await import("@mqx/mq/broker/broker.ts");
  console.log("imported");
} catch (error) {
  console.log(error instanceof TypeError ? "TypeError" : String(error));
}
`,
    );
    const result = await deno_(t, dir, ["run", "-A", "main.ts"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "TypeError\n");
  },
);

test(
  "jsr:@mqx/mq: deno check types a consumer through the exports",
  { ...TIMEOUT, skip: SKIP },
  async (t) => {
    const dir = project(t);
    const main = join(dir, "main.ts");
    writeFileSync(
      main,
      `import { connect, type Message, VERSION } from "@mqx/mq";
import { type Broker, startBroker } from "@mqx/mq/broker";

const broker: Broker = await startBroker({ listeners: [{ hostname: "127.0.0.1", port: 0 }] });
const client = await connect(\`mqtt://127.0.0.1:\${broker.addresses[0]!.port}\`);
// @ts-expect-error: 3 is not a QoS, so the types reached the checker
await client.publish("t", "x", { qos: 3 });
export const version: string = VERSION;
export type { Message };
`,
    );
    const result = await deno_(t, dir, ["check", "main.ts"]);
    // A JSR user's deno check reports errors in their own modules only, not in the package's
    // (remote) modules; a linked package counts as local, so its diagnostics show up here.
    // Fail on the consumer's, and report the package's.
    // deno-lint-ignore no-control-regex
    const output = (result.stdout + result.stderr).replace(/\x1b\[[0-9;]*m/g, "");
    const locations = [...output.matchAll(/^\s+at (file:\/\/\S+?):\d+:\d+$/gm)].map((m) => m[1]!);
    const own = locations.filter((url) => url.startsWith(`file://${dir}/`));
    assert.deepEqual(own, [], output);
    if (result.code !== 0) {
      assert.ok(locations.length > 0, `deno check failed without a located diagnostic: ${output}`);
      t.diagnostic(`type errors inside the package (not shown to a JSR user): ${output}`);
    }
  },
);
