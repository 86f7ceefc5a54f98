/**
 * Byte-for-byte comparison of `mq sub`'s formatter with Debian's mosquitto_sub: the same
 * retained messages are printed by mosquitto_sub (from a real mosquitto broker) and by
 * formatMessage() (from the message as published), for every -F specifier, -v, -N and JSON.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FormatMessage, formatMessage, type FormatOptions } from "../../cli/format.ts";
import { mosquittoMissing, run, startMosquitto, tempDir } from "./_mosquitto.ts";

const skip = mosquittoMissing("/usr/bin/mosquitto_sub", "/usr/bin/mosquitto_pub");
const T = { timeout: 60_000, skip: skip ?? false };
const te = new TextEncoder();

interface Sample {
  topic: string;
  publish: string[];
  message: Omit<FormatMessage, "time">;
  subQos?: number;
}

const SAMPLES: Sample[] = [
  {
    topic: "cmp/plain",
    publish: ["-m", 'hello "w"'],
    message: {
      topic: "cmp/plain",
      payload: te.encode('hello "w"'),
      qos: 0,
      retain: true,
      mid: 0,
      properties: {},
    },
  },
  {
    topic: "cmp/props",
    publish: [
      "-m",
      '{"a": 1.50, "b":[1, 2], "c": {}, "d": "x\\ny", "e": -0.000012345, "f": 3e10}',
      "-V",
      "5",
      "-D",
      "publish",
      "content-type",
      "text/x",
      "-D",
      "publish",
      "user-property",
      "k",
      "v",
      "-D",
      "publish",
      "user-property",
      "k2",
      "v2",
      "-D",
      "publish",
      "correlation-data",
      "cd",
      "-D",
      "publish",
      "response-topic",
      "rt",
      "-D",
      "publish",
      "payload-format-indicator",
      "1",
    ],
    message: {
      topic: "cmp/props",
      payload: te.encode(
        '{"a": 1.50, "b":[1, 2], "c": {}, "d": "x\\ny", "e": -0.000012345, "f": 3e10}',
      ),
      qos: 0,
      retain: true,
      mid: 0,
      properties: {
        contentType: "text/x",
        userProperties: [["k", "v"], ["k2", "v2"]],
        correlationData: te.encode("cd"),
        responseTopic: "rt",
        payloadFormatIndicator: 1,
      },
    },
  },
  {
    topic: "cmp/bin",
    publish: ["-f", "BIN"],
    message: {
      topic: "cmp/bin",
      payload: Uint8Array.of(0x62, 0x69, 0x6e, 0x01, 0xff, 0x7f, 0x09, 0x00, 0x7a),
      qos: 0,
      retain: true,
      mid: 0,
      properties: {},
    },
  },
  {
    topic: "cmp/utf8/é",
    publish: ["-m", "héllo wörld"],
    message: {
      topic: "cmp/utf8/é",
      payload: te.encode("héllo wörld"),
      qos: 0,
      retain: true,
      mid: 0,
      properties: {},
    },
  },
  {
    topic: "cmp/qos1",
    publish: ["-m", '[1,2.5,true,null,"s"]', "-q", "1"],
    subQos: 1,
    message: {
      topic: "cmp/qos1",
      payload: te.encode('[1,2.5,true,null,"s"]'),
      qos: 1,
      retain: true,
      mid: 1,
      properties: {},
    },
  },
];

/** Formats whose output does not depend on the time. */
const FORMATS: string[][] = [
  ["-F", "%t|%p|%l|%q|%r|%m"],
  ["-F", "%-10t|%10t|%.2t|%5.1t|%-5.1t|%-.3t|%0.4t"],
  ["-F", "%10p|%-10p|%-p|%05p|%2p|%.2p"],
  ["-F", "%x|%X|%10x|%-10x|%-x|%3x|%05x|%-05X"],
  ["-F", "%C|%10C|%-10C|%.3C|%A|%5A|%05A|%-5A|%F|%05F|%-3F|%S|%5S|%R|%8R|%P|%D"],
  ["-F", "%05l|%-5l|%5l|%0l|%-05l|%5m|%05m"],
  ["-F", "\\t\\e\\\\\\0\\a\\v\\r\\n|%%|@@|plain text"],
  ["-F", "%p", "-N"],
  ["-v"],
  ["-N"],
  ["-v", "-N"],
  [],
];

/** Formats with times: compared with every digit replaced by 0. */
const TIMED: string[][] = [
  ["-F", "%I|%U|%25I|%-25I|%.10I"],
  ["-F", "@Y-@m-@d @H:@M:@S.@N @y @e @j @s @z @Z @T @D @F @R @u @w @C @g @G @V @%"],
  ["-F", "%j"],
  ["-F", "%j", "--pretty"],
  ["-F", "%J"],
  ["-F", "%J", "--pretty"],
];

function options(args: string[]): FormatOptions {
  const o: FormatOptions = { utc: true };
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-F") o.format = args[++i]!;
    else if (args[i] === "-v") o.verbose = true;
    else if (args[i] === "-N") o.eol = false;
    else if (args[i] === "--pretty") o.pretty = true;
  }
  return o;
}

const zeroDigits = (b: Uint8Array) => new TextDecoder().decode(b).replace(/[0-9]/g, "0");

describe("formatMessage() against mosquitto_sub 2.0", () => {
  test("formatMessage() prints every specifier as mosquitto_sub does", T, async (t) => {
    const port = await startMosquitto(t, "allow_anonymous true\n");
    const dir = tempDir(t);
    const bin = join(dir, "bin");
    writeFileSync(bin, SAMPLES[2]!.message.payload);
    for (const sample of SAMPLES) {
      const args = sample.publish.map((a) => (a === "BIN" ? bin : a));
      const pub = await run("/usr/bin/mosquitto_pub", [
        "-p",
        String(port),
        "-t",
        sample.topic,
        "-r",
        ...args,
      ]);
      assert.equal(pub.code, 0, pub.stderr);
    }
    const sub = (sample: Sample, format: string[]) =>
      run("/usr/bin/mosquitto_sub", [
        "-p",
        String(port),
        "-V",
        "5",
        "-C",
        "1",
        "-W",
        "5",
        "-q",
        String(sample.subQos ?? 0),
        "-t",
        sample.topic,
        ...format,
      ], { env: { TZ: "UTC" } });
    for (const sample of SAMPLES) {
      for (const format of FORMATS) {
        const theirs = await sub(sample, format);
        assert.equal(theirs.code, 0, theirs.stderr);
        const ours = formatMessage({ ...sample.message, time: Date.now() }, options(format));
        assert.deepEqual(
          ours.stdout,
          theirs.stdout,
          `${sample.topic} ${format.join(" ")}:\n ours   ${
            JSON.stringify(
              new TextDecoder().decode(ours.stdout),
            )
          }\n theirs ${JSON.stringify(new TextDecoder().decode(theirs.stdout))}`,
        );
        assert.equal(ours.errors.map((e) => `${e}\n`).join(""), theirs.stderr);
      }
      for (const format of TIMED) {
        const theirs = await sub(sample, format);
        assert.equal(theirs.code, 0, theirs.stderr);
        const ours = formatMessage({ ...sample.message, time: Date.now() }, options(format));
        assert.equal(
          zeroDigits(ours.stdout),
          zeroDigits(theirs.stdout),
          `${sample.topic} ${format.join(" ")}`,
        );
        assert.equal(ours.errors.map((e) => `${e}\n`).join(""), theirs.stderr);
      }
    }
  });
});
