/**
 * The `mq pub -l` progress line (docs/cli.md): on standard error, only when it is a
 * terminal and without `--quiet`; `\r` and the count of lines sent, at most every 200 ms by
 * the host's clock; ended with the final count and a newline when standard input ends; an
 * error line never lands on the end of it. Exact bytes throughout.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import type { Broker, BrokerOptions } from "../../broker/mod.ts";
import { broker } from "./_in_process.ts";
import { ttyMq, type TtyOptions } from "./_tty_host.ts";

const T = { timeout: 30_000 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A clock that moves 1 s at every reading, so every line passes the 200 ms throttle. */
function racingClock(): () => number {
  let now = 1_000_000;
  return () => (now += 1000);
}

/** Collect the payloads the broker receives on `topic`. */
function received(b: Broker, topic: string): string[] {
  const payloads: string[] = [];
  b.on("publish", (event) => {
    if (event.packet.topic === topic) payloads.push(decoder.decode(event.packet.payload));
  });
  return payloads;
}

/** Start a broker, collecting what arrives on `p/t`. */
async function start(
  t: TestContext,
  options: BrokerOptions = {},
): Promise<{ port: string; payloads: string[] }> {
  const { b, port } = await broker(t, options);
  return { port, payloads: received(b, "p/t") };
}

/**
 * Run `mq pub -l -t p/t -q 1` (acknowledged, so the broker has every message when it ends)
 * with extra arguments; return the exit code and both outputs.
 */
async function pubLines(
  port: string,
  args: string[],
  options: TtyOptions,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const pub = ttyMq(["pub", "-p", port, "-t", "p/t", "-l", "-q", "1", ...args], options);
  const code = await pub.code;
  return { code, stdout: pub.host.out.text, stderr: pub.host.err.text };
}

describe("mq pub -l progress", () => {
  test("runPub() -l shows each count on a terminal and ends the line", T, async (t) => {
    const { port, payloads } = await start(t);
    const result = await pubLines(port, [], {
      stderrTTY: true,
      stdin: "a\nb\nc\n",
      now: racingClock(),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stderr,
      "\r1 message published\r2 messages published\r3 messages published" +
        "\r3 messages published\n",
    );
    assert.equal(result.stdout, "");
    assert.deepEqual(payloads, ["a", "b", "c"]);
  });

  test("runPub() -l counts a last line without a newline", T, async (t) => {
    const { port, payloads } = await start(t);
    const result = await pubLines(port, [], { stderrTTY: true, stdin: "a\nb" });
    assert.equal(result.code, 0, result.stderr);
    // The clock stands still, so only the final line is written.
    assert.equal(result.stderr, "\r2 messages published\n");
    assert.deepEqual(payloads, ["a", "b"]);
  });

  test("runPub() -l updates the line at most every 200 ms", T, async (t) => {
    const { port, payloads } = await start(t);
    let clock = 0;
    // The clock reads as set before each line: shown at 1000, 1200 (200 ms on) and 1450.
    async function* lines(): AsyncIterable<Uint8Array> {
      for (const [time, line] of [[1000, "1"], [1100, "2"], [1199, "3"], [1200, "4"]] as const) {
        clock = time;
        yield encoder.encode(`${line}\n`);
      }
      clock = 1300;
      yield encoder.encode("5\n");
      clock = 1450;
      yield encoder.encode("6\n");
    }
    const result = await pubLines(port, [], {
      stderrTTY: true,
      stdin: lines,
      now: () => clock,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stderr,
      "\r1 message published\r4 messages published\r6 messages published" +
        "\r6 messages published\n",
    );
    assert.deepEqual(payloads, ["1", "2", "3", "4", "5", "6"]);
  });

  test("runPub() -l shows no progress when standard error is not a terminal", T, async (t) => {
    const { port, payloads } = await start(t);
    const result = await pubLines(port, [], {
      stdoutTTY: true,
      stdin: "a\nb\nc\n",
      now: racingClock(),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    assert.equal(result.stdout, "");
    assert.deepEqual(payloads, ["a", "b", "c"]);
  });

  test("runPub() -l --quiet shows no progress on a terminal", T, async (t) => {
    const { port, payloads } = await start(t);
    const result = await pubLines(port, ["--quiet"], {
      stderrTTY: true,
      stdin: "a\nb\n",
      now: racingClock(),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    assert.deepEqual(payloads, ["a", "b"]);
  });

  test("runPub() -l writes no progress for empty standard input", T, async (t) => {
    const { port, payloads } = await start(t);
    const result = await pubLines(port, [], { stderrTTY: true, stdin: "", now: racingClock() });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "");
    assert.deepEqual(payloads, []);
  });

  test("runPub() -l --no-color still shows progress, and never colours it", T, async (t) => {
    const { port } = await start(t);
    const result = await pubLines(port, ["--no-color"], {
      stderrTTY: true,
      stdin: "a\n",
      now: racingClock(),
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "\r1 message published\r1 message published\n");
  });

  test("runPub() -l ends the progress line before a warning", T, async (t) => {
    let publishes = 0;
    // Refuse the second message only: PUBACK 0x87 under MQTT 5.
    const { port, payloads } = await start(t, {
      authorize: (request) => request.action !== "publish" || ++publishes !== 2,
    });
    let clock = 0;
    let warned!: () => void;
    const warning = new Promise<void>((resolve) => (warned = resolve));
    async function* lines(): AsyncIterable<Uint8Array> {
      clock = 1000;
      yield encoder.encode("a\n");
      yield encoder.encode("b\n");
      await warning;
      clock = 2000;
      yield encoder.encode("c\n");
    }
    const pub = ttyMq(["pub", "-p", port, "-t", "p/t", "-l", "-q", "1", "-V", "5"], {
      stderrTTY: true,
      stdin: lines,
      now: () => clock,
    });
    const write = pub.host.err.writeText.bind(pub.host.err);
    pub.host.err.writeText = (text: string): void => {
      write(text);
      if (text.includes("Warning")) warned();
    };
    assert.equal(await pub.code, 0, pub.host.err.text);
    assert.equal(
      pub.host.err.text,
      "\r1 message published\n" +
        "\x1b[31mWarning: Publish failed: Not authorized.\x1b[0m\n" +
        "\r3 messages published\r3 messages published\n",
    );
    assert.deepEqual(payloads, ["a", "c"]);
  });
});
