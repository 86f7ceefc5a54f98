import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ClientDecoder, type ClientDecoderOptions } from "./client_decoder.ts";
import { Decoder } from "./decode.ts";
import { MalformedPacketError, type MqttError, ProtocolError } from "./errors.ts";
import { FIXTURES, hexToBytes } from "./_fixtures.ts";
import { MALFORMED_FIXTURES } from "./_malformed_fixtures.ts";
import type { Packet, PacketName, ProtocolVersion } from "./packet.ts";

// The packets a server sends, which a client decodes.
const SERVER_SENT: ReadonlySet<PacketName> = new Set<PacketName>([
  "connack",
  "publish",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "suback",
  "unsuback",
  "pingresp",
  "disconnect",
  "auth",
]);

interface DecoderLike {
  push(chunk: Uint8Array): void;
  next(): Packet | undefined;
  readonly error: MqttError | undefined;
  readonly bufferedBytes: number;
}

interface Outcome {
  packets: Packet[];
  error: { errorClass: unknown; reasonCode: number; spec: string | undefined } | undefined;
  buffered: number;
}

function run(decoder: DecoderLike, chunks: Iterable<Uint8Array>): Outcome {
  const packets: Packet[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let p = decoder.next(); p !== undefined; p = decoder.next()) packets.push(p);
  }
  const e = decoder.error;
  return {
    packets,
    error: e === undefined
      ? undefined
      : { errorClass: e.constructor, reasonCode: e.reasonCode, spec: e.spec },
    buffered: decoder.bufferedBytes,
  };
}

function* bytewise(bytes: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i++) yield bytes.slice(i, i + 1);
}

function both(
  version: ProtocolVersion,
  maximumPacketSize?: number,
): [ClientDecoder, Decoder] {
  const options: ClientDecoderOptions = { protocolVersion: version };
  if (maximumPacketSize !== undefined) options.maximumPacketSize = maximumPacketSize;
  return [new ClientDecoder(options), new Decoder({ ...options, side: "client" })];
}

describe("ClientDecoder", () => {
  const serverSent = FIXTURES.filter((f) => SERVER_SENT.has(f.packet.type));
  const clientSent = FIXTURES.filter((f) => !SERVER_SENT.has(f.packet.type));

  test("ClientDecoder.next() matches a client-side Decoder on every server-sent fixture", () => {
    assert.ok(serverSent.length > 50);
    for (const f of serverSent) {
      const bytes = hexToBytes(f.hex);
      const [ours, reference] = both(f.version);
      const got = run(ours, [bytes]);
      assert.deepEqual(got, run(reference, [bytes]), f.name);
      const [oursBytewise, referenceBytewise] = both(f.version);
      const bytewiseGot = run(oursBytewise, bytewise(bytes));
      assert.deepEqual(bytewiseGot, run(referenceBytewise, bytewise(bytes)), f.name);
      assert.deepEqual(bytewiseGot, got, f.name);
    }
  });

  test("ClientDecoder.next() decodes the server-sent fixtures a client accepts", () => {
    let decoded = 0;
    for (const f of serverSent) {
      const [decoder] = both(f.version);
      const got = run(decoder, [hexToBytes(f.hex)]);
      if (got.error !== undefined) continue;
      assert.deepEqual(got.packets, [f.packet], f.name);
      decoded++;
    }
    assert.ok(decoded > 50);
  });

  test("ClientDecoder.next() decodes all server-sent fixtures of a version in one stream", () => {
    for (const version of [3, 4, 5] as const) {
      const fixtures = serverSent.filter((f) => f.version === version);
      const stream = hexToBytes(fixtures.map((f) => f.hex).join(""));
      const [ours, reference] = both(version);
      assert.deepEqual(run(ours, [stream]), run(reference, [stream]), `v${version}`);
    }
  });

  test("ClientDecoder.error refuses client-sent packets as a client-side Decoder does", () => {
    assert.ok(clientSent.length > 10);
    for (const f of clientSent) {
      const bytes = hexToBytes(f.hex);
      const [ours, reference] = both(f.version);
      const got = run(ours, [bytes]);
      assert.deepEqual(got, run(reference, [bytes]), f.name);
      assert.equal(got.error?.errorClass, ProtocolError, f.name);
      assert.equal(got.error?.reasonCode, 0x82, f.name);
      assert.equal(got.error?.spec, f.version === 5 ? "§2.1.2" : "§2.2.1", f.name);
      assert.deepEqual(got.packets, [], f.name);
      assert.equal(got.buffered, 0, f.name);
    }
  });

  test("ClientDecoder.error matches a client-side Decoder on every applicable malformed fixture", () => {
    const applicable = MALFORMED_FIXTURES.filter((f) =>
      f.version !== undefined && f.side !== "server"
    );
    assert.ok(applicable.length > 50);
    let faults = 0;
    for (const f of applicable) {
      const bytes = hexToBytes(f.hex);
      const [ours, reference] = both(f.version!, f.maximumPacketSize);
      const got = run(ours, [bytes]);
      assert.deepEqual(got, run(reference, [bytes]), f.name);
      const [oursBytewise, referenceBytewise] = both(f.version!, f.maximumPacketSize);
      assert.deepEqual(
        run(oursBytewise, bytewise(bytes)),
        run(referenceBytewise, bytewise(bytes)),
        f.name,
      );
      if (got.error !== undefined) {
        assert.ok(
          got.error.errorClass === MalformedPacketError || got.error.errorClass === ProtocolError,
          f.name,
        );
        faults++;
      }
    }
    assert.ok(faults > 50);
  });

  test("ClientDecoder.error reports the client-side malformed fixtures' own errors", () => {
    for (const f of MALFORMED_FIXTURES.filter((f) => f.side === "client")) {
      const [decoder] = both(f.version!, f.maximumPacketSize);
      const got = run(decoder, [hexToBytes(f.hex)]);
      assert.equal(got.error?.errorClass, f.errorClass, f.name);
      assert.equal(got.error?.reasonCode, f.reasonCode, f.name);
      assert.equal(got.error?.spec, f.spec, f.name);
    }
  });

  test("ClientDecoder.push() ignores input once poisoned", () => {
    const decoder = new ClientDecoder({ protocolVersion: 4 });
    decoder.push(new Uint8Array([0xc0, 0x00, 0xd0, 0x00]));
    assert.ok(decoder.error instanceof ProtocolError);
    decoder.push(new Uint8Array([0xd0, 0x00]));
    assert.equal(decoder.next(), undefined);
  });

  test("new ClientDecoder() refuses what a client-side Decoder refuses", () => {
    assert.throws(
      () => new ClientDecoder({} as ClientDecoderOptions),
      RangeError,
    );
    assert.throws(
      () => new ClientDecoder({ protocolVersion: 6 as ProtocolVersion }),
      RangeError,
    );
    assert.throws(
      () => new ClientDecoder({ protocolVersion: 5, maximumPacketSize: 1 }),
      RangeError,
    );
    assert.throws(
      () => new ClientDecoder({ protocolVersion: 5, copyPayloads: "no" as unknown as boolean }),
      TypeError,
    );
    assert.throws(
      () => new ClientDecoder({ protocolVersion: 5 }).push("x" as unknown as Uint8Array),
      TypeError,
    );
  });

  test("ClientDecoder.maximumPacketSize applies from the next fixed header", () => {
    const decoder = new ClientDecoder({ protocolVersion: 5 });
    assert.equal(decoder.protocolVersion, 5);
    assert.equal(decoder.maximumPacketSize, 268_435_460);
    decoder.maximumPacketSize = 4;
    assert.equal(decoder.maximumPacketSize, 4);
    assert.throws(() => (decoder.maximumPacketSize = 1), RangeError);
    decoder.push(new Uint8Array([0x30, 0x04, 0x00]));
    assert.ok(decoder.error instanceof ProtocolError);
    assert.equal(decoder.error.reasonCode, 0x95);
    assert.equal(decoder.bufferedBytes, 0);
  });

  test("ClientDecoder.push() keeps payloads as views with copyPayloads false", () => {
    const decoder = new ClientDecoder({ protocolVersion: 4, copyPayloads: false });
    const chunk = new Uint8Array([0x30, 0x05, 0x00, 0x01, 0x74, 0x68, 0x69]);
    decoder.push(chunk);
    const packet = decoder.next();
    assert.ok(packet?.type === "publish");
    assert.equal(packet.payload.buffer, chunk.buffer);
  });
});
