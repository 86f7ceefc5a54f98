/**
 * `mq bench` run in-process with the fake host against the in-process broker on a loopback
 * port: exact counts through the broker, latency, conn, the JSON summary, topic templates,
 * usage errors, the live line and SIGINT.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { expandTopic, parseBenchArgs } from "../../cli/_bench_args.ts";
import { formatProgress } from "../../cli/_bench_report.ts";
import { LatencyHistogram, readStamp, writeStamp } from "../../cli/_bench_stats.ts";
import type { BenchSummary } from "../../cli/bench.ts";
import { main } from "../../cli/mq.ts";
import { broker, subscribed } from "./_in_process.ts";
import { CapturedOutput, type FakeHost, fakeHost } from "./_fake_host.ts";

const T = { timeout: 20_000 };

/** Run `mq bench` with the fake host, a real clock and (optionally) a terminal on stderr. */
function bench(
  args: string[],
  options: { stderrTTY?: boolean } = {},
): { host: FakeHost; code: Promise<number> } {
  const base = fakeHost({ env: { XDG_CONFIG_HOME: "/none" }, args: ["bench", ...args] });
  const err = new CapturedOutput(options.stderrTTY === true);
  const host: FakeHost = { ...base, stderr: err, err, now: () => Date.now() };
  return { host, code: main(["bench", ...args], host) };
}

function summary(host: FakeHost): BenchSummary {
  return JSON.parse(host.out.text) as BenchSummary;
}

const SUMMARY_KEYS = [
  "acked",
  "bytes",
  "clients",
  "connectRate",
  "connected",
  "duplicates",
  "elapsed",
  "errorKinds",
  "errors",
  "failed",
  "gaps",
  "interrupted",
  "latency",
  "lost",
  "mqttVersion",
  "payloadSize",
  "qos",
  "rate",
  "received",
  "runTime",
  "scenario",
  "sent",
  "topic",
  "untimed",
];

describe("mq bench", () => {
  for (const version of ["311", "5"]) {
    for (const qos of ["0", "1", "2"]) {
      test(
        `runBench() pub to sub counts exactly at QoS ${qos} over MQTT ${version}`,
        T,
        async (t) => {
          const { b, port } = await broker(t);
          const ready = subscribed(b, "exact/#");
          const common = ["-p", port, "-V", version, "-q", qos, "--json"];
          const sub = bench(["sub", ...common, "-t", "exact/#", "-n", "600"]);
          await ready;
          const pub = bench([
            "pub",
            ...common,
            "-c",
            "3",
            "-n",
            "200",
            "-t",
            "exact/%i",
            "-s",
            "32",
          ]);
          assert.equal(await pub.code, 0, pub.host.err.text);
          assert.equal(await sub.code, 0, sub.host.err.text);
          const p = summary(pub.host);
          assert.equal(p.sent, 600);
          assert.equal(p.acked, qos === "0" ? 0 : 600);
          assert.equal(p.connected, 3);
          assert.equal(p.errors, 0);
          assert.equal(p.mqttVersion, version === "5" ? "5" : "3.1.1");
          const s = summary(sub.host);
          assert.equal(s.received, 600);
          assert.equal(s.bytes, 600 * 32);
          assert.equal(s.gaps, 0);
          assert.equal(s.duplicates, 0);
          assert.equal(s.untimed, 0);
          assert.equal(s.errors, 0);
          const l = s.latency;
          assert.ok(l !== null);
          assert.equal(l.count, 600);
          assert.ok(0 <= l.min && l.min <= l.p50, JSON.stringify(l));
          assert.ok(l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max);
          assert.ok(l.max < 10_000, JSON.stringify(l));
          assert.equal(pub.host.err.text, "");
        },
      );
    }
  }

  test("runBench() sub finds missing, duplicated and unstamped messages", T, async (t) => {
    const { b, port } = await broker(t);
    const ready = subscribed(b, "seq/#");
    const sub = bench(["sub", "-p", port, "-t", "seq/#", "-n", "5", "-q", "1", "--json"]);
    await ready;
    const payload = (sequence: number): Uint8Array => {
      const bytes = new Uint8Array(20);
      writeStamp(new DataView(bytes.buffer), 0, { time: Date.now(), sequence, publisher: 7 });
      return bytes;
    };
    for (const sequence of [0, 1, 3, 3]) b.publish("seq/a", payload(sequence), { qos: 1 });
    b.publish("seq/a", "x", { qos: 1 });
    assert.equal(await sub.code, 0, sub.host.err.text);
    const s = summary(sub.host);
    assert.equal(s.received, 5);
    assert.equal(s.gaps, 1);
    assert.equal(s.duplicates, 1);
    assert.equal(s.untimed, 1);
    assert.equal(s.latency?.count, 4);
  });

  test("runBench() conn opens every connection and holds it", T, async (t) => {
    const { b, port } = await broker(t);
    const run = bench(["conn", "-p", port, "-c", "25", "--duration", "0.3", "--json"]);
    assert.equal(await run.code, 0, run.host.err.text);
    const s = summary(run.host);
    assert.equal(s.scenario, "conn");
    assert.equal(s.clients, 25);
    assert.equal(s.connected, 25);
    assert.equal(s.failed, 0);
    assert.equal(s.lost, 0);
    assert.ok(s.connectRate > 0);
    assert.ok(s.rate > 0);
    assert.ok(s.runTime >= 0.3, String(s.runTime));
    assert.equal(b.stats.clientsMaximum, 25);
  });

  test("runBench() conn paced by -i with --concurrency", T, async (t) => {
    const { port } = await broker(t);
    const run = bench(["conn", "-p", port, "-c", "4", "-i", "20", "--duration", "0.01", "--json"]);
    assert.equal(await run.code, 0, run.host.err.text);
    const s = summary(run.host);
    assert.equal(s.connected, 4);
    // The fourth connection starts 60 ms after the first
    assert.ok(s.elapsed >= 0.055, String(s.elapsed));
  });

  test("runBench() conn reports refused connections and exits 1", T, async (t) => {
    const { port } = await broker(t, { authenticate: () => false });
    const run = bench(["conn", "-p", port, "-c", "5", "-V", "311", "--duration", "0", "--json"]);
    assert.equal(await run.code, 1);
    const s = summary(run.host);
    assert.equal(s.connected, 0);
    assert.equal(s.failed, 5);
    assert.equal(s.errors, 5);
    assert.deepEqual(s.errorKinds, { "connection refused: Not authorized": 5 });
  });

  test("runBench() prints a JSON summary of a fixed shape", T, async (t) => {
    const { b, port } = await broker(t);
    for (const scenario of ["pub", "sub", "conn"]) {
      const args = scenario === "pub" ? ["-n", "3"] : ["--duration", "0.05"];
      const ready = subscribed(b, "bench/#");
      const run = bench([scenario, "-p", port, ...args, "--json"]);
      if (scenario === "sub") {
        // sub starts its --duration at the first message: end it with a signal instead
        await ready;
        run.host.signal("SIGINT");
      }
      assert.equal(await run.code, 0, run.host.err.text);
      assert.equal(run.host.err.text, "");
      assert.ok(run.host.out.text.endsWith("}\n"));
      const s = summary(run.host);
      assert.deepEqual(Object.keys(s).sort(), SUMMARY_KEYS);
      assert.equal(s.scenario, scenario);
      assert.equal(s.interrupted, scenario === "sub");
      for (const key of SUMMARY_KEYS) {
        if (key === "latency") assert.equal(s.latency, null);
        else if (key === "errorKinds") assert.deepEqual(s.errorKinds, {});
        else if (!["scenario", "mqttVersion", "topic", "interrupted"].includes(key)) {
          assert.equal(typeof s[key as keyof BenchSummary], "number", key);
        }
      }
    }
  });

  test("runBench() expands %i and %c in topic templates", T, async (t) => {
    const { b, port } = await broker(t);
    const topics = new Set<string>();
    let count = 0;
    const all = new Promise<void>((resolve) => {
      b.subscribe("tpl/#", (message) => {
        topics.add(message.topic);
        if (++count === 6) resolve();
      });
    });
    const run = bench([
      "pub",
      "-p",
      port,
      "-c",
      "3",
      "-n",
      "2",
      "-t",
      "tpl/%i/%c",
      "--prefix",
      "px",
    ]);
    assert.equal(await run.code, 0, run.host.err.text);
    await all;
    assert.deepEqual([...topics].sort(), ["tpl/1/px-pub-1", "tpl/2/px-pub-2", "tpl/3/px-pub-3"]);
    assert.match(run.host.err.text, /^mq bench pub: 3 clients, MQTT 5, QoS 0/);
    assert.match(run.host.err.text, /sent +6 messages/);
  });

  test("runBench() paces messages with -I", T, async (t) => {
    const { port } = await broker(t);
    const run = bench(["pub", "-p", port, "-I", "20", "-n", "5", "--json"]);
    assert.equal(await run.code, 0, run.host.err.text);
    const s = summary(run.host);
    assert.equal(s.sent, 5);
    // Five messages 20 ms apart: 80 ms from the first to the last
    assert.ok(s.elapsed >= 0.07, String(s.elapsed));
  });

  test("runBench() shows the live line only on a terminal", T, async (t) => {
    const { port } = await broker(t);
    const tty = bench(["pub", "-p", port, "-I", "5", "--duration", "0.7"], { stderrTTY: true });
    const plain = bench(["pub", "-p", port, "-I", "5", "--duration", "0.7"]);
    assert.equal(await tty.code, 0, tty.host.err.text);
    assert.equal(await plain.code, 0, plain.host.err.text);
    assert.match(tty.host.err.text, /\rpub \d+\.\ds {2}clients 1\/1 {2}sent \d+/);
    assert.ok(tty.host.err.text.includes("\r\x1b[Kmq bench pub: "));
    assert.doesNotMatch(plain.host.err.text, /\r/);
    assert.match(plain.host.err.text, /^mq bench pub: /);
    const quiet = bench(["pub", "-p", port, "-n", "1", "--quiet"], { stderrTTY: true });
    assert.equal(await quiet.code, 0);
    assert.equal(quiet.host.err.text, "");
  });

  test("runBench() ends early with the summary on SIGINT", T, async (t) => {
    const { b, port } = await broker(t);
    const published = new Promise<void>((resolve) => {
      const off = b.on("publish", () => {
        off();
        resolve();
      });
    });
    const run = bench(["pub", "-p", port, "-I", "2", "--duration", "0", "-q", "1", "--json"]);
    await published;
    run.host.signal("SIGINT");
    assert.equal(await run.code, 0, run.host.err.text);
    const s = summary(run.host);
    assert.equal(s.interrupted, true);
    assert.ok(s.sent >= 1);
    assert.equal(s.acked, s.sent);
  });

  test("runBench() reports a failed connection and exits 1", T, async (t) => {
    const { b, port } = await broker(t);
    await b.close();
    const run = bench(["pub", "-p", port, "-c", "2", "--json"]);
    assert.equal(await run.code, 1);
    const s = summary(run.host);
    assert.equal(s.failed, 2);
    assert.equal(s.errors, 2);
  });

  test("runBench() prints usage and exits 1 on bad flags", T, async () => {
    const bad = [
      [],
      ["publish"],
      ["pub", "--bogus"],
      ["pub", "-q", "3"],
      ["pub", "-s", "15"],
      ["pub", "-c", "0"],
      ["pub", "-c", "1.5"],
      ["pub", "-p"],
      ["pub", "-V", "4.0"],
      ["pub", "-t", "a/#"],
      ["pub", "-n", "0"],
      ["pub", "--duration", "-1"],
      ["pub", "--json=1"],
      ["sub", "-s", "64"],
      ["sub", "-t", "a/#/b"],
      ["sub", "-t", "a/%c", "--prefix", "x+y"],
      ["pub", "-V", "311", "-P", "secret"],
      ["conn", "-q", "1"],
      ["conn", "-t", "x"],
    ];
    for (const args of bad) {
      const run = bench(args);
      assert.equal(await run.code, 1, args.join(" "));
      assert.match(run.host.err.text, /^Error: .+\nUse 'mq bench --help' to see usage\.\n$/);
      assert.equal(run.host.out.text, "");
    }
    const help = bench(["--help"]);
    assert.equal(await help.code, 0);
    assert.match(help.host.out.text, /Usage: mq bench pub/);
    const top = fakeHost();
    assert.equal(await main(["--help"], top), 0);
    assert.match(top.out.text, /\n {2}bench {6}/);
  });

  test("parseBenchArgs() applies defaults and -n lifts the duration", () => {
    const r = parseBenchArgs(["sub"]);
    assert.ok(r.kind === "options");
    assert.equal(r.options.topic, "bench/#");
    assert.equal(r.options.duration, 10);
    assert.equal(r.options.protocolVersion, 5);
    const n = parseBenchArgs(["pub", "-n", "5", "--size=100", "-V", "311"]);
    assert.ok(n.kind === "options");
    assert.equal(n.options.duration, 0);
    assert.equal(n.options.payloadSize, 100);
    assert.equal(n.options.protocolVersion, 4);
    const both = parseBenchArgs(["pub", "-n", "5", "--duration", "2"]);
    assert.ok(both.kind === "options");
    assert.equal(both.options.duration, 2);
  });

  test("expandTopic() replaces %i, %c and %%", () => {
    assert.equal(expandTopic("a/%i/%c/%%", 12, "id"), "a/12/id/%");
    assert.equal(expandTopic("plain", 1, "id"), "plain");
  });

  test("LatencyHistogram.percentile() stays within 0.2% and the exact extremes", () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 10_000; i++) h.record(i / 100); // 0.01 .. 100 ms
    const s = h.summary()!;
    assert.equal(s.count, 10_000);
    assert.equal(s.min, 0.01);
    assert.equal(s.max, 100);
    for (const [fraction, expected] of [[0.5, 50], [0.9, 90], [0.99, 99]] as const) {
      const got = h.percentile(fraction);
      assert.ok(Math.abs(got - expected) / expected < 0.002, `${fraction}: ${got}`);
    }
    const other = new LatencyHistogram();
    other.record(-1); // clock skew counts as 0
    other.record(1e9); // beyond the range: clamped
    h.add(other);
    assert.equal(h.count, 10_002);
    assert.equal(h.summary()!.min, 0);
    assert.equal(new LatencyHistogram().summary(), undefined);
  });

  test("readStamp() reads what writeStamp() wrote", () => {
    const payload = new Uint8Array(32);
    writeStamp(new DataView(payload.buffer), 0, { time: 1.5, sequence: 2 ** 32 - 1, publisher: 9 });
    assert.deepEqual(readStamp(payload), { time: 1.5, sequence: 2 ** 32 - 1, publisher: 9 });
  });

  test("formatProgress() shows the rate since the previous line", () => {
    const p = {
      scenario: "sub",
      time: 2,
      clients: 2,
      connected: 2,
      failed: 0,
      sent: 0,
      received: 5000,
      inflight: 0,
      errors: 0,
      p50: 0.5,
      p99: 1.25,
    } as const;
    assert.equal(
      formatProgress(p, { ...p, time: 1.5, received: 4000 }),
      "sub 2.0s  clients 2/2  received 5,000  2,000/s  p50 0.500ms  p99 1.25ms  errors 0",
    );
  });
});
