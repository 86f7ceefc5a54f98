import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodePacket, Decoder, type DecoderOptions, MAX_PACKET_SIZE } from "./decode.ts";
import { MalformedPacketError, MqttError, ProtocolError } from "./errors.ts";
import { FIXTURES, hexToBytes } from "./_fixtures.ts";
import { MALFORMED_FIXTURES, type MalformedFixture } from "./_malformed_fixtures.ts";
import type { Packet, ProtocolVersion } from "./packet.ts";
import { Random } from "./_test_random.ts";

function options(f: { version?: ProtocolVersion; side?: "server" | "client" }): DecoderOptions {
  const o: DecoderOptions = {};
  if (f.version !== undefined) o.protocolVersion = f.version;
  if (f.side !== undefined) o.side = f.side;
  return o;
}

function malformedOptions(f: MalformedFixture): DecoderOptions {
  const o = options(f);
  if (f.maximumPacketSize !== undefined) o.maximumPacketSize = f.maximumPacketSize;
  return o;
}

/** Feed the chunks, taking packets after each push; returns all packets. */
function feed(decoder: Decoder, chunks: Iterable<Uint8Array>): Packet[] {
  const out: Packet[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let p = decoder.next(); p !== undefined; p = decoder.next()) out.push(p);
  }
  return out;
}

function* bytewise(bytes: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i++) yield bytes.subarray(i, i + 1);
}

/** Copies of each byte in a fresh array that is wiped after use, like a reused read buffer. */
function* bytewiseReused(bytes: Uint8Array): Generator<Uint8Array> {
  const scratch = new Uint8Array(1);
  for (let i = 0; i < bytes.length; i++) {
    scratch[0] = bytes[i]!;
    yield scratch;
    scratch[0] = 0xee;
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function assertFixtureError(decoder: Decoder, f: MalformedFixture): void {
  const err = decoder.error;
  assert.ok(err instanceof MqttError, `${f.name}: expected an error, got ${err}`);
  assert.ok(err instanceof f.errorClass, `${f.name}: ${err.name} is not ${f.errorClass.name}`);
  assert.equal(err.reasonCode, f.reasonCode, `${f.name}: reason code (${err.message})`);
  assert.equal(err.spec, f.spec, `${f.name}: spec (${err.message})`);
  assert.equal(decoder.bufferedBytes, 0, `${f.name}: bytes kept after the error`);
}

function assertPoisoned(decoder: Decoder, name: string): void {
  const err = decoder.error;
  decoder.push(hexToBytes("c000")); // a valid PINGREQ
  decoder.push(hexToBytes("e000"));
  assert.equal(decoder.next(), undefined, `${name}: a packet after the error`);
  assert.equal(decoder.error, err, `${name}: the error changed`);
  assert.equal(decoder.bufferedBytes, 0, `${name}: bytes kept after the error`);
}

const VERSIONS: ProtocolVersion[] = [3, 4, 5];

// Read through a function so that TypeScript does not keep an earlier narrowing of the getter
function errorOf(decoder: Decoder): MqttError | undefined {
  return decoder.error;
}

describe("Decoder", () => {
  test("Decoder.next() returns every fixture fed whole", () => {
    for (const f of FIXTURES) {
      const decoder = new Decoder({ protocolVersion: f.version });
      decoder.push(hexToBytes(f.hex));
      assert.deepStrictEqual(decoder.next(), f.packet, f.name);
      assert.equal(decoder.next(), undefined, f.name);
      assert.equal(decoder.error, undefined, f.name);
      assert.equal(decoder.bufferedBytes, 0, f.name);
    }
  });

  test("Decoder.next() returns every fixture fed one byte at a time", () => {
    for (const f of FIXTURES) {
      const bytes = hexToBytes(f.hex);
      const decoder = new Decoder({ protocolVersion: f.version });
      const packets: Packet[] = [];
      for (let i = 0; i < bytes.length; i++) {
        decoder.push(bytes.subarray(i, i + 1));
        const p = decoder.next();
        if (i < bytes.length - 1) {
          assert.equal(p, undefined, `${f.name}: packet after byte ${i}`);
          assert.equal(decoder.bufferedBytes, i + 1, `${f.name}: bytes buffered after byte ${i}`);
        } else if (p !== undefined) {
          packets.push(p);
        }
      }
      assert.deepStrictEqual(packets, [f.packet], f.name);
      assert.equal(decoder.bufferedBytes, 0, f.name);
      assert.equal(decoder.error, undefined, f.name);
    }
  });

  test("Decoder.next() returns every fixture from reused one-byte chunks", () => {
    for (const f of FIXTURES) {
      const decoder = new Decoder({ protocolVersion: f.version });
      const packets = feed(decoder, bytewiseReused(hexToBytes(f.hex)));
      assert.deepStrictEqual(packets, [f.packet], f.name);
    }
  });

  test("Decoder.next() returns every fixture split into two chunks at every boundary", () => {
    for (const f of FIXTURES) {
      const bytes = hexToBytes(f.hex);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const decoder = new Decoder({ protocolVersion: f.version });
        const packets = feed(decoder, [bytes.slice(0, cut), bytes.slice(cut)]);
        assert.deepStrictEqual(packets, [f.packet], `${f.name} cut at ${cut}`);
        assert.equal(decoder.error, undefined, `${f.name} cut at ${cut}`);
      }
    }
  });

  test("Decoder.next() returns all fixtures of a version from one chunk", () => {
    for (const version of VERSIONS) {
      const fixtures = FIXTURES.filter((f) => f.version === version && f.packet.type !== "connect");
      const bytes = concat(fixtures.map((f) => hexToBytes(f.hex)));
      const decoder = new Decoder({ protocolVersion: version });
      const packets = feed(decoder, [bytes]);
      assert.deepStrictEqual(packets, fixtures.map((f) => f.packet), `v${version}`);
      assert.equal(decoder.error, undefined);
      assert.equal(decoder.bufferedBytes, 0);
    }
  });

  test("Decoder.next() returns all fixtures of a version from random chunks", () => {
    const random = new Random(0x5eed);
    for (const version of VERSIONS) {
      const fixtures = FIXTURES.filter((f) => f.version === version);
      const bytes = concat(fixtures.map((f) => hexToBytes(f.hex)));
      for (let round = 0; round < 20; round++) {
        const chunks: Uint8Array[] = [];
        for (let off = 0; off < bytes.length;) {
          const size = random.int(1, round % 2 === 0 ? 8 : 300);
          chunks.push(bytes.slice(off, off + size));
          off += size;
        }
        const packets = feed(new Decoder({ protocolVersion: version }), chunks);
        assert.deepStrictEqual(packets, fixtures.map((f) => f.packet), `v${version} #${round}`);
      }
    }
  });

  test("Decoder.push() adopts the version of CONNECT on the server side", () => {
    for (const f of FIXTURES.filter((f) => f.packet.type === "connect")) {
      const decoder = new Decoder({ side: "server" });
      assert.equal(decoder.protocolVersion, undefined);
      // CONNECT then a PINGREQ and, per version, a packet whose layout depends on it
      const follow = f.version === 5 ? "4003000110" : "40020001";
      decoder.push(hexToBytes(f.hex + "c000" + follow));
      assert.deepStrictEqual(decoder.next(), f.packet, f.name);
      assert.equal(decoder.protocolVersion, f.version, f.name);
      assert.deepStrictEqual(decoder.next(), { type: "pingreq" }, f.name);
      const ack = f.version === 5
        ? { type: "puback", packetId: 1, reasonCode: 0x10 }
        : { type: "puback", packetId: 1 };
      assert.deepStrictEqual(decoder.next(), ack, f.name);
      assert.equal(decoder.error, undefined, f.name);
    }
  });

  test("Decoder.push() adopts the version of CONNECT without a side", () => {
    const decoder = new Decoder();
    const connect = FIXTURES.find((f) => f.name === "CONNECT v5 minimal")!;
    decoder.push(hexToBytes(connect.hex));
    assert.equal(decoder.next()?.type, "connect");
    assert.equal(decoder.protocolVersion, 5);
  });

  test("Decoder.push() copies payloads and binary fields out of the chunk", () => {
    const fixtures = FIXTURES.filter((f) =>
      f.packet.type === "publish" && f.packet.payload.length > 0 ||
      f.packet.type === "connect" && f.packet.password !== undefined
    );
    assert.ok(fixtures.length > 5);
    for (const f of fixtures) {
      const bytes = hexToBytes(f.hex);
      const decoder = new Decoder({ protocolVersion: f.version });
      decoder.push(bytes);
      bytes.fill(0xee);
      const p = decoder.next();
      assert.deepStrictEqual(p, f.packet, f.name);
      // The decoded arrays are not views into the chunk
      if (p?.type === "publish") assert.notEqual(p.payload.buffer, bytes.buffer, f.name);
    }
  });

  test("Decoder.push() decodes a large PUBLISH arriving in many chunks", () => {
    const random = new Random(7);
    const payload = random.bytes(200_000);
    const topic = "big/payload";
    // 2 + 11 topic bytes + 2 packet id + 200000 payload = 200015: a 3-byte remaining length
    const header = hexToBytes("32cf9a0c000b6269672f7061796c6f61640102");
    const bytes = concat([header, payload]);
    const decoder = new Decoder({ protocolVersion: 4 });
    const chunks: Uint8Array[] = [];
    for (let off = 0; off < bytes.length; off += 1460) chunks.push(bytes.slice(off, off + 1460));
    const packets = feed(decoder, chunks);
    assert.deepStrictEqual(packets, [
      { type: "publish", topic, payload, qos: 1, retain: false, dup: false, packetId: 0x0102 },
    ]);
    assert.equal(decoder.bufferedBytes, 0);
  });

  test("Decoder.next() returns packets decoded before a fault, then the error shows", () => {
    const decoder = new Decoder({ protocolVersion: 4 });
    decoder.push(hexToBytes("c000 d000 3600".replace(/ /g, "")));
    assert.equal(decoder.error, undefined);
    assert.deepStrictEqual(decoder.next(), { type: "pingreq" });
    assert.equal(decoder.error, undefined);
    assert.deepStrictEqual(decoder.next(), { type: "pingresp" });
    const err = errorOf(decoder);
    assert.ok(err instanceof MalformedPacketError);
    assert.equal(err.spec, "MQTT-3.3.1-4");
    assert.equal(decoder.next(), undefined);
  });

  test("Decoder.bufferedBytes stays at the header when a packet is too large", () => {
    const decoder = new Decoder({ side: "server", maximumPacketSize: 1024 });
    decoder.push(hexToBytes("101000044d51545405 02003c00 0003616263".replace(/ /g, "")));
    assert.equal(decoder.next()?.type, "connect");
    // PUBLISH announcing 100000 bytes: refused on its header, before any of its body
    decoder.push(hexToBytes("30a08d06"));
    const err = errorOf(decoder);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.reasonCode, 0x95);
    assert.equal(err.spec, "MQTT-3.2.2-15");
    assert.equal(decoder.bufferedBytes, 0);
    assert.equal(decoder.next(), undefined);
  });

  test("Decoder.push() refuses a too large packet whose header arrives byte by byte", () => {
    const decoder = new Decoder({ protocolVersion: 5, side: "client", maximumPacketSize: 200 });
    const header = hexToBytes("30c901");
    decoder.push(header.subarray(0, 1));
    decoder.push(header.subarray(1, 2));
    assert.equal(decoder.error, undefined);
    assert.equal(decoder.bufferedBytes, 2);
    decoder.push(header.subarray(2, 3));
    const err = errorOf(decoder);
    assert.ok(err instanceof ProtocolError);
    assert.equal(err.reasonCode, 0x95);
    assert.equal(err.spec, "MQTT-3.1.2-24");
    assert.equal(decoder.bufferedBytes, 0);
  });

  test("Decoder.push() accepts a packet of exactly the maximum size", () => {
    const decoder = new Decoder({ protocolVersion: 4, maximumPacketSize: 8 });
    // PUBLISH "t" with payload "hi!": 2 + 3 + 3 = 8 bytes
    decoder.push(hexToBytes("3006000174686921"));
    assert.equal(decoder.next()?.type, "publish");
    assert.equal(decoder.error, undefined);
  });

  test("Decoder.bufferedBytes grows with the bytes received, not the size announced", () => {
    const decoder = new Decoder({ protocolVersion: 5 });
    // A PUBLISH of the largest size: accepted by the default maximum (MAX_PACKET_SIZE)
    decoder.push(hexToBytes("30ffffff7f"));
    assert.equal(decoder.error, undefined);
    assert.equal(decoder.bufferedBytes, 5);
    decoder.push(new Uint8Array(1000));
    assert.equal(decoder.bufferedBytes, 1005);
    assert.equal(decoder.next(), undefined);
    assert.equal(MAX_PACKET_SIZE, 268_435_460);
  });

  test("Decoder.next() decodes valid non-canonical encodings", () => {
    const cases: { name: string; version: ProtocolVersion; hex: string; packet: Packet }[] = [
      {
        name: "PUBACK v5 reason code 0 without property length (remaining length 3)",
        version: 5,
        hex: "4003 0007 00",
        packet: { type: "puback", packetId: 7, reasonCode: 0 },
      },
      {
        name: "PUBACK v5 reason code 0 with empty properties (remaining length 4)",
        version: 5,
        hex: "4004 0007 00 00",
        packet: { type: "puback", packetId: 7, reasonCode: 0 },
      },
      {
        name: "PUBREL v5 reason code 0 without property length",
        version: 5,
        hex: "6203 0007 00",
        packet: { type: "pubrel", packetId: 7, reasonCode: 0 },
      },
      {
        name: "PUBCOMP v5 reason code 0x92 with empty properties",
        version: 5,
        hex: "7004 0007 92 00",
        packet: { type: "pubcomp", packetId: 7, reasonCode: 0x92 },
      },
      {
        name: "DISCONNECT v5 reason code 0 (remaining length 1)",
        version: 5,
        hex: "e001 00",
        packet: { type: "disconnect", reasonCode: 0 },
      },
      {
        name: "DISCONNECT v5 reason code 0 with empty properties (remaining length 2)",
        version: 5,
        hex: "e002 00 00",
        packet: { type: "disconnect", reasonCode: 0 },
      },
      {
        name: "AUTH v5 reason code 0 (remaining length 1)",
        version: 5,
        hex: "f001 00",
        packet: { type: "auth", reasonCode: 0 },
      },
      {
        name: "AUTH v5 reason code 0 with empty properties",
        version: 5,
        hex: "f002 00 00",
        packet: { type: "auth", reasonCode: 0 },
      },
      {
        name: "CONNACK v5 without property length (remaining length 2)",
        version: 5,
        hex: "2002 01 00",
        packet: { type: "connack", sessionPresent: true, reasonCode: 0 },
      },
      {
        name: "SUBSCRIBE v3 with DUP set on a retry",
        version: 3,
        hex: "8a06 0001 000161 01",
        packet: { type: "subscribe", packetId: 1, subscriptions: [{ filter: "a", qos: 1 }] },
      },
      {
        name: "PUBREL v3 with DUP set on a retry",
        version: 3,
        hex: "6a02 0001",
        packet: { type: "pubrel", packetId: 1 },
      },
      {
        name: "PUBLISH v5 properties in an unusual order, user properties interleaved",
        version: 5,
        hex: "3016 000174 12 2600016b000176 0b03 0101 2600016b000177",
        packet: {
          type: "publish",
          topic: "t",
          payload: new Uint8Array(0),
          qos: 0,
          retain: false,
          dup: false,
          properties: {
            userProperties: [["k", "v"], ["k", "w"]],
            subscriptionIdentifiers: [3],
            payloadFormatIndicator: 1,
          },
        },
      },
      {
        name: "PUBLISH v4 topic starting with a byte order mark, kept",
        version: 4,
        hex: "3006 0004 efbbbf61",
        packet: {
          type: "publish",
          topic: "\ufeffa",
          payload: new Uint8Array(0),
          qos: 0,
          retain: false,
          dup: false,
        },
      },
    ];
    for (const c of cases) {
      const bytes = hexToBytes(c.hex);
      assert.deepStrictEqual(decodePacket(bytes, { protocolVersion: c.version }), c.packet, c.name);
      const decoder = new Decoder({ protocolVersion: c.version });
      assert.deepStrictEqual(feed(decoder, bytewise(bytes)), [c.packet], `${c.name} bytewise`);
    }
  });
});

describe("Decoder errors", () => {
  test("Decoder.error reports every malformed fixture fed whole", () => {
    for (const f of MALFORMED_FIXTURES) {
      const decoder = new Decoder(malformedOptions(f));
      decoder.push(hexToBytes(f.hex));
      while (decoder.next() !== undefined);
      assertFixtureError(decoder, f);
      assertPoisoned(decoder, f.name);
    }
  });

  test("Decoder.error reports every malformed fixture fed one byte at a time", () => {
    for (const f of MALFORMED_FIXTURES) {
      const decoder = new Decoder(malformedOptions(f));
      feed(decoder, bytewiseReused(hexToBytes(f.hex)));
      assertFixtureError(decoder, f);
      assertPoisoned(decoder, f.name);
    }
  });

  test("Decoder.error reports every malformed fixture split in two", () => {
    for (const f of MALFORMED_FIXTURES) {
      const bytes = hexToBytes(f.hex);
      const cut = bytes.length >> 1;
      const decoder = new Decoder(malformedOptions(f));
      feed(decoder, [bytes.slice(0, cut), bytes.slice(cut)]);
      assertFixtureError(decoder, f);
    }
  });

  test("Decoder.error reports a fault after valid packets in the same chunk", () => {
    for (const f of MALFORMED_FIXTURES.filter((f) => f.version !== undefined && !f.side)) {
      const decoder = new Decoder(malformedOptions(f));
      const packets = feed(decoder, [hexToBytes("c000c000" + f.hex)]);
      assert.equal(packets.length, 2, f.name);
      assertFixtureError(decoder, f);
    }
  });

  test("Decoder() malformed fixture names are unique and cover every packet type", () => {
    const names = new Set(MALFORMED_FIXTURES.map((f) => f.name));
    assert.equal(names.size, MALFORMED_FIXTURES.length);
    const types = new Set(MALFORMED_FIXTURES.map((f) => hexToBytes(f.hex)[0]! >> 4));
    assert.equal(types.size, 16);
  });

  test("Decoder() rejects out-of-range options", () => {
    assert.throws(() => new Decoder({ protocolVersion: 6 as ProtocolVersion }), RangeError);
    assert.throws(() => new Decoder({ maximumPacketSize: 1 }), RangeError);
    assert.throws(() => new Decoder({ maximumPacketSize: MAX_PACKET_SIZE + 1 }), RangeError);
    assert.throws(() => new Decoder({ maximumPacketSize: 1.5 }), RangeError);
    assert.throws(() => new Decoder({ side: "client" }), RangeError);
    assert.throws(() => new Decoder({ side: "both" as "server" }), RangeError);
    const decoder = new Decoder({ protocolVersion: 4 });
    assert.throws(() => {
      decoder.protocolVersion = 2 as ProtocolVersion;
    }, RangeError);
    assert.throws(() => {
      decoder.maximumPacketSize = 0;
    }, RangeError);
    decoder.protocolVersion = 5;
    assert.equal(decoder.protocolVersion, 5);
    decoder.maximumPacketSize = 100;
    assert.equal(decoder.maximumPacketSize, 100);
  });

  test("Decoder.push() throws a TypeError when given something else than bytes", () => {
    const decoder = new Decoder({ protocolVersion: 4 });
    assert.throws(() => decoder.push("c000" as unknown as Uint8Array), TypeError);
    assert.equal(decoder.error, undefined);
  });

  test("Decoder.protocolVersion set later changes how packets decode", () => {
    const decoder = new Decoder({ protocolVersion: 4 });
    decoder.push(hexToBytes("40020001"));
    assert.deepStrictEqual(decoder.next(), { type: "puback", packetId: 1 });
    decoder.protocolVersion = 5;
    decoder.push(hexToBytes("40020001"));
    assert.deepStrictEqual(decoder.next(), { type: "puback", packetId: 1, reasonCode: 0 });
  });

  test("decodePacket() throws the decoder's error or a RangeError", () => {
    assert.throws(
      () => decodePacket(hexToBytes("3600"), { protocolVersion: 4 }),
      (e: unknown) => e instanceof MalformedPacketError && e.spec === "MQTT-3.3.1-4",
    );
    assert.throws(() => decodePacket(hexToBytes("c0"), { protocolVersion: 4 }), RangeError);
    assert.throws(() => decodePacket(hexToBytes("c000c000"), { protocolVersion: 4 }), RangeError);
    assert.throws(() => decodePacket(hexToBytes("c000c0"), { protocolVersion: 4 }), RangeError);
  });
});
