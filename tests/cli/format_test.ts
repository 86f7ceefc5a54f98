import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import {
  checkFormat,
  formatJsonLine,
  type FormatMessage,
  formatMessage,
} from "../../cli/format.ts";
import { ChunkInput } from "../../cli/_input.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const message: FormatMessage = {
  topic: "a/b",
  payload: te.encode("21.5"),
  qos: 1,
  retain: true,
  mid: 7,
  properties: { contentType: "text/plain", userProperties: [["k", "v"]] },
  time: Date.UTC(2024, 1, 3, 4, 5, 6, 789),
};
const show = (format: string) => td.decode(formatMessage(message, { format, utc: true }).stdout);

describe("formatMessage()", () => {
  test("formatMessage() prints the fixed-time specifiers in UTC", () => {
    assert.equal(show("%I"), "2024-02-03T04:05:06+0000\n");
    assert.equal(show("%U"), "1706933106.789000000\n");
    assert.equal(
      show("@Y/@m/@d @H:@M:@S.@N @a @b @j @z @Z @@"),
      [
        "2024/02/03 04:05:06.789000000 Sat Feb 034 +0000 UTC @\n",
      ].join(""),
    );
    assert.equal(show("%t %q %r %m %C %P"), "a/b 1 1 7 text/plain k:v\n");
  });

  test("formatMessage() prints mosquitto's JSON with the time stamp", () => {
    assert.equal(
      show("%j"),
      '{"tst":"2024-02-03T04:05:06.789000Z+0000","topic":"a/b","qos":1,"retain":1,' +
        '"payloadlen":4,"mid":7,"properties":{"content-type":"text/plain",' +
        '"user-properties":{"k":"v"}},"payload":"21.5"}\n',
    );
    assert.match(show("%J"), /"payload":21.5}\n$/);
  });

  test("formatMessage() prints nothing for an empty payload without -v", () => {
    const empty = { ...message, payload: new Uint8Array(0) };
    assert.equal(formatMessage(empty).stdout.length, 0);
    assert.equal(td.decode(formatMessage(empty, { verbose: true }).stdout), "a/b (null)\n");
    assert.equal(formatMessage(empty, { verbose: true, eol: false }).stdout.length, 0);
  });

  test("formatJsonLine() gives text or base64 payloads and properties", () => {
    assert.deepEqual(JSON.parse(formatJsonLine(message)), {
      topic: "a/b",
      qos: 1,
      retain: true,
      payload: "21.5",
      encoding: "utf8",
      properties: { contentType: "text/plain", userProperties: [["k", "v"]] },
    });
    const binary = { ...message, payload: Uint8Array.of(0xff, 0), properties: {} };
    assert.deepEqual(JSON.parse(formatJsonLine(binary)), {
      topic: "a/b",
      qos: 1,
      retain: true,
      payload: "/wA=",
      encoding: "base64",
    });
    assert.match(formatJsonLine(message, true), /\n {2}"topic": "a\/b",\n/);
    const line = td.decode(formatMessage(message, { json: true }).stdout);
    assert.ok(line.endsWith("}\n"));
  });
});

describe("checkFormat()", () => {
  test("checkFormat() accepts every mosquitto specifier and rejects others", () => {
    for (const c of "%ACDEFIjJlmPpqRSrtUxX") assert.equal(checkFormat(`%${c}`), undefined, c);
    assert.equal(checkFormat("%-010.5t @H \\n \\e \\0"), undefined);
    for (const bad of ["%", "%-", "%5", "%5.", "%y", "@", "\\", "\\q"]) {
      assert.equal(typeof checkFormat(bad), "string", bad);
    }
  });
});

describe("ChunkInput", () => {
  test("ChunkInput.readLine() splits lines across chunks and keeps bytes", async () => {
    const input = new ChunkInput(
      () => [te.encode("ab"), te.encode("c\r\nd\n\n"), Uint8Array.of(0xff)],
      false,
    );
    const lines: string[] = [];
    for await (const line of input.lines()) lines.push(JSON.stringify([...line]));
    assert.deepEqual(lines, ["[97,98,99,13]", "[100]", "[]", "[255]"]);
  });

  test("ChunkInput.readAll() returns everything", async () => {
    const input = new ChunkInput(async function* () {
      yield te.encode("x\n");
      yield te.encode("y");
    }, false);
    assert.equal(td.decode(await input.readLine()), "x");
    assert.equal(td.decode(await input.readAll()), "y");
  });
});
