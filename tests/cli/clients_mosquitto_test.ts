/**
 * Compatibility of `mq pub`, `mq sub` and `mq rr` with Debian's mosquitto_pub,
 * mosquitto_sub and mosquitto_rr 2.0: the same command line runs through both against the
 * same broker (Debian's mosquitto, so neither client plays at home), and standard output
 * (bytes), the class of standard error (empty or not) and the exit code must agree.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../../client/connect.ts";
import { mosquittoMissing, type Run, run, startMosquitto, tempDir } from "./_mosquitto.ts";
import { live, runTool, type Tool } from "./_mq.ts";

const skip = mosquittoMissing(
  "/usr/bin/mosquitto_pub",
  "/usr/bin/mosquitto_sub",
  "/usr/bin/mosquitto_rr",
  "/usr/bin/mosquitto_passwd",
);
const T = { timeout: 90_000, skip: skip ?? false };
const TOOLS: Tool[] = ["mosquitto", "mq"];
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** The same command through both tools, each after its own `setup`. */
async function both(
  cmd: string,
  args: string[],
  options: { setup?: () => Promise<unknown>; stdin?: string } = {},
): Promise<Record<Tool, Run>> {
  const results = {} as Record<Tool, Run>;
  for (const tool of TOOLS) {
    await options.setup?.();
    results[tool] = await runTool(
      tool,
      cmd,
      args,
      options.stdin === undefined ? {} : { stdin: options.stdin },
    );
  }
  return results;
}

/** stdout bytes, stderr class and exit code agree. */
function same(results: Record<Tool, Run>, label: string): void {
  const { mosquitto, mq } = results;
  const detail = `${label}\nmosquitto: ${mosquitto.code} ${
    JSON.stringify(text(mosquitto.stdout))
  } ${JSON.stringify(mosquitto.stderr)}\nmq: ${mq.code} ${JSON.stringify(text(mq.stdout))} ${
    JSON.stringify(mq.stderr)
  }`;
  assert.equal(mq.code, mosquitto.code, detail);
  // %j carries the time of receipt, which naturally differs.
  const tst = /"tst":\s*"[^"]*"/g;
  if (tst.test(text(mosquitto.stdout))) {
    assert.equal(text(mq.stdout).replace(tst, "TST"), text(mosquitto.stdout).replace(tst, "TST"));
  } else assert.deepEqual(mq.stdout, mosquitto.stdout, detail);
  assert.equal(mq.stderr === "", mosquitto.stderr === "", detail);
}

/** Publish retained messages with mosquitto_pub (the reference), each to completion. */
async function retain(port: string, messages: [string, string][], extra: string[] = []) {
  for (const [topic, payload] of messages) {
    const r = await runTool("mosquitto", "pub", [
      "-p",
      port,
      "-t",
      topic,
      "-m",
      payload,
      "-r",
      ...extra,
    ]);
    assert.equal(r.code, 0, r.stderr);
  }
}

async function broker(t: TestContext, config = "allow_anonymous true\n"): Promise<string> {
  return String(await startMosquitto(t, config));
}

describe("mq clients against mosquitto's clients", () => {
  test("runSub() output matches mosquitto_sub: -v, -N, -F, -C", T, async (t) => {
    const port = await broker(t);
    await retain(port, [["c/a", "alpha"], ["c/b", '{"b": [1, 2]}'], ["c/c", "gamma é"]]);
    const cases: string[][] = [
      ["-t", "c/#", "-C", "3"],
      ["-t", "c/#", "-C", "3", "-v"],
      ["-t", "c/#", "-C", "3", "-v", "-N"],
      ["-t", "c/#", "-C", "3", "-N"],
      ["-t", "c/#", "-C", "3", "-F", "%t|%p|%l|%q|%r|%x|%X|%m"],
      ["-t", "c/#", "-C", "3", "-F", "%-8t:%08l:%.3p\\t@@%%"],
      ["-t", "c/a", "-C", "1", "-F", "%j", "-q", "1"],
      ["-t", "c/a", "-C", "1", "-F", "%j", "--pretty"],
      ["-t", "c/b", "-C", "1", "-F", "%J"],
      ["-t", "c/a", "-t", "c/c", "-C", "2", "-v", "-q", "2"],
    ];
    for (const args of cases) same(await both("sub", ["-p", port, ...args]), args.join(" "));
  });

  test("runSub() -W, -R, --retained-only, -T, -E match mosquitto_sub", T, async (t) => {
    const port = await broker(t);
    await retain(port, [["w/a", "one"], ["w/b", "two"]]);
    const cases: string[][] = [
      ["-t", "w/none", "-W", "1"],
      ["-t", "w/#", "-R", "-W", "1"],
      ["-t", "w/#", "--retained-only", "-W", "1", "-v"],
      ["-t", "w/#", "-T", "w/a", "-C", "1", "-v"],
      ["-t", "w/#", "-T", "w/+", "-W", "1"],
      ["-t", "w/none", "-E"],
      ["-t", "w/#", "-R", "-t", "x", "-E"],
    ];
    for (const args of cases) same(await both("sub", ["-p", port, ...args]), args.join(" "));
  });

  test("runSub() -U unsubscribes a persistent session as mosquitto_sub does", T, async (t) => {
    const port = await broker(t);
    const results = await both("sub", [
      "-p",
      port,
      "-c",
      "-i",
      "persist",
      "-q",
      "1",
      "-t",
      "u/x",
      "-W",
      "1",
      "-v",
    ], {
      setup: async () => {
        const s = ["-p", port, "-c", "-i", "persist", "-q", "1"];
        assert.equal((await runTool("mosquitto", "sub", [...s, "-t", "u/#", "-E"])).code, 0);
        assert.equal((await runTool("mq", "sub", [...s, "-t", "u/x", "-U", "u/#", "-E"])).code, 0);
        await runTool("mosquitto", "pub", ["-p", port, "-q", "1", "-t", "u/1", "-m", "queued"]);
      },
    });
    same(results, "-U");
    assert.equal(results.mq.code, 27);
    assert.equal(text(results.mq.stdout), "");
  });

  test("runPub() -l, -n -r, -s, -f, --repeat and -V 31/311/5 match mosquitto_pub", T, async (t) => {
    const port = await broker(t);
    const dir = tempDir(t);
    const file = join(dir, "payload.bin");
    writeFileSync(file, new Uint8Array([0, 1, 2, 0xff, 0x0a, 0x41]));
    const read = async (topic: string, count: number, extra: string[] = []) =>
      await runTool("mosquitto", "sub", [
        "-p",
        port,
        "-t",
        topic,
        "-C",
        String(count),
        "-v",
        ...extra,
      ]);
    const record: Record<Tool, string[]> = { mosquitto: [], mq: [] };
    for (const tool of TOOLS) {
      const outputs = record[tool];
      // -l: each line a message; readiness by a retained probe the subscriber prints first.
      await retain(port, [["l/probe", "probe"]]);
      const sub = live(t, "mosquitto", "sub", [
        "-p",
        port,
        "-t",
        "l/#",
        "-v",
        "-C",
        "5",
        "-q",
        "1",
      ]);
      await sub.waitFor("l/probe probe");
      const pub = await runTool(tool, "pub", ["-p", port, "-t", "l/t", "-l", "-q", "1"], {
        stdin: "one\ntwo\r\n\nfour",
      });
      assert.equal(pub.code, 0, pub.stderr);
      outputs.push(text((await sub.done).stdout));
      // -f, -s and versions, read back as retained messages.
      for (
        const [topic, args] of [
          ["p/f", ["-f", file]],
          ["p/s", ["-s"]],
          ["p/31", ["-m", "v31", "-V", "31"]],
          ["p/311", ["-m", "v311", "-V", "311"]],
          ["p/5", ["-m", "v5", "-V", "5", "-q", "2"]],
          ["p/r", ["-m", "rep", "--repeat", "3", "--repeat-delay", "0"]],
        ] as [string, string[]][]
      ) {
        const r = await runTool(tool, "pub", ["-p", port, "-t", topic, "-r", ...args], {
          stdin: "from stdin\n",
        });
        assert.equal(r.code, 0, `${topic} ${r.stderr}`);
        outputs.push(text((await read(topic, 1, ["-F", "%t %x %r"])).stdout));
      }
      // -n -r clears the retained message: nothing left to read.
      assert.equal((await runTool(tool, "pub", ["-p", port, "-t", "p/f", "-n", "-r"])).code, 0);
      const cleared = await read("p/f", 1, ["-W", "1"]);
      outputs.push(`${cleared.code} ${text(cleared.stdout)}`);
    }
    assert.deepEqual(record.mq, record.mosquitto);
    assert.match(
      record.mq[0]!,
      /^l\/probe probe\nl\/t one\nl\/t two\r\nl\/t \(null\)\nl\/t four\n$/,
    );
  });

  test("runPub() and runSub() carry -D properties as mosquitto's clients do", T, async (t) => {
    const port = await broker(t);
    const props = [
      "-D",
      "publish",
      "content-type",
      "text/x",
      "-D",
      "publish",
      "user-property",
      "k1",
      "v1",
      "-D",
      "publish",
      "user-property",
      "k2",
      "v2",
      "-D",
      "publish",
      "response-topic",
      "resp/t",
      "-D",
      "publish",
      "correlation-data",
      "cd",
      "-D",
      "publish",
      "payload-format-indicator",
      "1",
      "-D",
      "publish",
      "message-expiry-interval",
      "3600",
    ];
    const format = ["-F", "%C|%P|%R|%D|%F|%r"];
    const results = {} as Record<Tool, Run>;
    for (const tool of TOOLS) {
      const r = await runTool(tool, "pub", [
        "-p",
        port,
        "-V",
        "5",
        "-t",
        "d/x",
        "-m",
        "m",
        "-r",
        ...props,
      ]);
      assert.equal(r.code, 0, r.stderr);
      results[tool] = await runTool("mosquitto", "sub", [
        "-p",
        port,
        "-V",
        "5",
        "-t",
        "d/x",
        "-C",
        "1",
        ...format,
      ]);
    }
    same(results, "publish with -D");
    same(
      await both("sub", [
        "-p",
        port,
        "-V",
        "5",
        "-t",
        "d/x",
        "-C",
        "1",
        ...format,
        "-D",
        "connect",
        "user-property",
        "a",
        "b",
        "-D",
        "subscribe",
        "subscription-identifier",
        "7",
      ]),
      "sub with -D",
    );
  });

  test("runSub() --will-* is published when the client is killed", T, async (t) => {
    const port = await broker(t);
    const seen: Record<Tool, string> = { mosquitto: "", mq: "" };
    for (const tool of TOOLS) {
      await retain(port, [["will/probe", "probe"]]);
      const watcher = live(t, "mosquitto", "sub", ["-p", port, "-t", "will/#", "-v", "-C", "2"]);
      await watcher.waitFor("will/probe probe");
      await retain(port, [["k/probe", "probe"]]);
      const victim = live(t, tool, "sub", [
        "-p",
        port,
        "-t",
        "k/probe",
        "--will-topic",
        "will/gone",
        "--will-payload",
        "bye",
        "--will-qos",
        "1",
      ]);
      await victim.waitFor("probe");
      victim.kill("SIGKILL");
      await victim.done;
      seen[tool] = text((await watcher.done).stdout);
    }
    assert.equal(seen.mq, seen.mosquitto);
    assert.equal(seen.mq, "will/probe probe\nwill/gone bye\n");
  });

  test("runRr() matches mosquitto_rr: response, -F, -W exit 27", T, async (t) => {
    const port = await broker(t);
    const responder = await connect(`mqtt://127.0.0.1:${port}`);
    t.after(() => responder.end());
    await responder.subscribe("rr/req", {
      onMessage: (m) => {
        const topic = m.properties?.responseTopic;
        if (topic === undefined) return;
        const properties = m.properties?.correlationData === undefined
          ? {}
          : { correlationData: m.properties.correlationData };
        void responder.publish(topic, `re:${text(m.payload)}`, { properties });
      },
    });
    same(await both("rr", ["-p", port, "-t", "rr/req", "-e", "rr/resp", "-m", "ping"]), "rr");
    same(
      await both("rr", ["-p", port, "-t", "rr/req", "-e", "rr/resp", "-m", "ping", "-v"]),
      "rr -v",
    );
    same(
      await both("rr", [
        "-p",
        port,
        "-t",
        "rr/req",
        "-e",
        "rr/resp",
        "-m",
        "p",
        "-F",
        "%t:%p:%l",
        "-D",
        "publish",
        "correlation-data",
        "xyz",
      ]),
      "rr -F",
    );
    same(
      await both("rr", ["-p", port, "-t", "rr/none", "-e", "rr/r2", "-m", "x", "-W", "1"]),
      "rr -W",
    );
  });

  test("CONNACK refusals exit with mosquitto's codes", T, async (t) => {
    const dir = tempDir(t);
    const passwords = join(dir, "passwd");
    const made = await run("/usr/bin/mosquitto_passwd", ["-b", "-c", passwords, "user", "secret"]);
    assert.equal(made.code, 0, made.stderr);
    const port = await broker(t, `allow_anonymous false\npassword_file ${passwords}\n`);
    const cases: [string, string[]][] = [
      ["pub", ["-t", "a", "-m", "x"]],
      ["pub", ["-t", "a", "-m", "x", "-V", "5"]],
      ["pub", ["-t", "a", "-m", "x", "-V", "31"]],
      ["pub", ["-t", "a", "-m", "x", "-u", "user", "-P", "wrong"]],
      ["pub", ["-t", "a", "-m", "x", "-u", "user", "-P", "wrong", "-V", "5"]],
      ["sub", ["-t", "a", "-W", "2"]],
      ["sub", ["-t", "a", "-V", "5", "-W", "2"]],
      ["rr", ["-t", "a", "-e", "b", "-m", "x", "-W", "2"]],
      ["pub", ["-t", "a", "-m", "x", "-u", "user", "-P", "secret"]],
      ["pub", ["-t", "a", "-m", "x", "--quiet"]],
    ];
    for (const [cmd, args] of cases) {
      same(await both(cmd, ["-p", port, ...args]), `${cmd} ${args.join(" ")}`);
    }
  });

  test("connection failures and usage errors exit 1 as mosquitto's clients do", T, async (t) => {
    const port = await broker(t);
    const closed = "1"; // nothing listens on port 1
    const cases: [string, string[]][] = [
      ["pub", ["-p", closed, "-t", "a", "-m", "x"]],
      ["sub", ["-p", closed, "-t", "a"]],
      ["pub", ["-p", port, "-t", "a/#", "-m", "x"]],
      ["pub", ["-p", port, "-t", "a"]],
      ["sub", ["-p", port, "-t", "a", "-R", "--retained-only"]],
      ["rr", ["-p", port, "-t", "a", "-m", "x"]],
    ];
    for (const [cmd, args] of cases) {
      const results = await both(cmd, args);
      // Deliberate difference (docs/cli.md): mosquitto prints its whole usage on standard
      // output after some usage errors; mq prints one line and a hint on standard error.
      assert.equal(results.mq.code, results.mosquitto.code, `${cmd} ${args.join(" ")}`);
      assert.equal(results.mq.stdout.length, 0);
      assert.notEqual(results.mosquitto.stderr, "");
      assert.notEqual(results.mq.stderr, "");
    }
  });
});
