import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodePacket, Decoder, type DecoderOptions } from "./decode.ts";
import { encodePacket } from "./encode.ts";
import { MqttError } from "./errors.ts";
import { bytesToHex, FIXTURES, hexToBytes } from "./_fixtures.ts";
import { MALFORMED_FIXTURES } from "./_malformed_fixtures.ts";
import type { Packet, ProtocolVersion, QoS, Subscription, Will } from "./packet.ts";
import { PROPERTIES, type Properties, type PropertyContext } from "./properties.ts";
import { isValidReasonCode, type ReasonCodePacket } from "./reason_code.ts";
import { Random } from "./_test_random.ts";

const VERSIONS: readonly ProtocolVersion[] = [3, 4, 5];

// ---- Random valid packets

const CHARS = ["a", "b", "z", "0", "9", "-", "_", " ", "é", "ß", "€", "東", "😀", "$", "\ufeff"];

function randomString(r: Random, max = 8): string {
  let s = "";
  const n = r.int(0, max);
  for (let i = 0; i < n; i++) s += r.pick(CHARS);
  return s;
}

function randomLevel(r: Random): string {
  let s = "";
  const n = r.int(0, 4);
  for (let i = 0; i < n; i++) s += r.pick(CHARS.filter((c) => c !== "$"));
  return s;
}

function randomTopicName(r: Random): string {
  const levels: string[] = [];
  const n = r.int(1, 4);
  for (let i = 0; i < n; i++) levels.push(randomLevel(r));
  if (r.chance(0.1)) levels[0] = "$SYS";
  const name = levels.join("/");
  return name.length === 0 ? "t" : name;
}

function randomTopicFilter(r: Random, shared: boolean): string {
  const levels: string[] = [];
  const n = r.int(1, 4);
  for (let i = 0; i < n; i++) levels.push(r.chance(0.25) ? "+" : randomLevel(r));
  if (r.chance(0.3)) levels.push("#");
  let filter = levels.join("/");
  if (filter.length === 0) filter = "a";
  return shared ? `$share/${r.pick(["g", "group1", "ü"])}/${filter}` : filter;
}

function reasonCodes(packet: ReasonCodePacket): number[] {
  const codes: number[] = [];
  for (let c = 0; c < 256; c++) if (isValidReasonCode(packet, c)) codes.push(c);
  return codes;
}

const REASON_CODES: Record<ReasonCodePacket, number[]> = {
  connack: reasonCodes("connack"),
  puback: reasonCodes("puback"),
  pubrec: reasonCodes("pubrec"),
  pubrel: reasonCodes("pubrel"),
  pubcomp: reasonCodes("pubcomp"),
  suback: reasonCodes("suback"),
  unsuback: reasonCodes("unsuback"),
  disconnect: reasonCodes("disconnect"),
  auth: reasonCodes("auth"),
};

function randomProperties(r: Random, context: PropertyContext): Properties | undefined {
  if (r.chance(0.4)) return undefined;
  const props: Properties = {};
  const fields = props as Record<string, unknown>;
  for (const info of PROPERTIES) {
    if (!info.contexts.includes(context) || r.chance(0.6)) continue;
    const name = info.name;
    if (name === "userProperties") {
      const list: [string, string][] = [];
      for (let i = r.int(1, 3); i > 0; i--) list.push([randomString(r), randomString(r)]);
      props.userProperties = list;
    } else if (name === "subscriptionIdentifiers") {
      const list: number[] = [];
      for (let i = r.int(1, 3); i > 0; i--) list.push(r.int(1, 268_435_455));
      props.subscriptionIdentifiers = list;
    } else if (name === "responseTopic") {
      props.responseTopic = randomTopicName(r);
    } else if (name === "payloadFormatIndicator" || name === "maximumQoS") {
      fields[name] = r.int(0, 1);
    } else if (info.boolean) {
      fields[name] = r.chance();
    } else if (info.type === "byte") {
      fields[name] = r.int(0, 1);
    } else if (info.type === "uint16") {
      fields[name] = r.int(1, 65_535);
    } else if (info.type === "uint32") {
      fields[name] = r.pick([1, 60, 65_536, 4_294_967_295, r.int(1, 4_294_967_295)]);
    } else if (info.type === "varint") {
      fields[name] = r.int(1, 268_435_455);
    } else if (info.type === "utf8") {
      fields[name] = randomString(r);
    } else if (info.type === "binary") {
      fields[name] = r.bytes(r.int(0, 6));
    }
  }
  // 3.1.2.11.10: authentication data needs an authentication method
  if (props.authenticationData !== undefined && props.authenticationMethod === undefined) {
    props.authenticationMethod = "SCRAM";
  }
  return Object.keys(props).length === 0 ? undefined : props;
}

function withProperties<T extends Packet>(
  packet: T,
  r: Random,
  context: PropertyContext,
  version: ProtocolVersion,
): T {
  if (version !== 5) return packet;
  const props = randomProperties(r, context);
  if (props !== undefined) (packet as { properties?: Properties }).properties = props;
  return packet;
}

function randomPacketId(r: Random): number {
  return r.chance(0.2) ? r.pick([1, 65_535]) : r.int(1, 65_535);
}

const TYPES: readonly Packet["type"][] = [
  "connect",
  "connack",
  "publish",
  "puback",
  "pubrec",
  "pubrel",
  "pubcomp",
  "subscribe",
  "suback",
  "unsubscribe",
  "unsuback",
  "pingreq",
  "pingresp",
  "disconnect",
  "auth",
];

function randomPacket(r: Random, version: ProtocolVersion, type: Packet["type"]): Packet {
  const v5 = version === 5;
  switch (type) {
    case "connect": {
      const packet: Packet = withProperties(
        {
          type: "connect",
          protocolVersion: version,
          clientId: randomString(r, 12),
          clean: r.chance(),
          keepAlive: r.int(0, 65_535),
        },
        r,
        "connect",
        version,
      );
      if (r.chance()) {
        const will: Will = {
          topic: randomTopicName(r),
          payload: r.bytes(r.int(0, 20)),
          qos: r.int(0, 2) as QoS,
          retain: r.chance(),
        };
        if (v5) {
          const props = randomProperties(r, "will");
          if (props !== undefined) will.properties = props;
        }
        packet.will = will;
      }
      const username = r.chance();
      if (username) packet.username = randomString(r);
      // 3.1.1 [MQTT-3.1.2-22]: no password without a user name
      if (r.chance() && (username || v5)) packet.password = r.bytes(r.int(0, 10));
      return packet;
    }
    case "connack": {
      const reasonCode = v5 ? r.pick(REASON_CODES.connack) : r.int(0, 5);
      return withProperties(
        // MQTT 3.1 has no session present flag
        {
          type: "connack",
          sessionPresent: reasonCode === 0 && version !== 3 && r.chance(),
          reasonCode,
        },
        r,
        "connack",
        version,
      );
    }
    case "publish": {
      const qos = r.int(0, 2) as QoS;
      let topic = randomTopicName(r);
      let properties = v5 ? randomProperties(r, "publish") : undefined;
      if (v5 && r.chance(0.2)) {
        topic = "";
        properties = { ...properties, topicAlias: r.int(1, 65_535) };
      }
      const packet: Packet = {
        type: "publish",
        topic,
        payload: r.bytes(r.chance(0.05) ? r.int(100, 20_000) : r.int(0, 40)),
        qos,
        retain: r.chance(),
        dup: qos > 0 && r.chance(),
      };
      if (qos > 0) packet.packetId = randomPacketId(r);
      if (properties !== undefined) packet.properties = properties;
      return packet;
    }
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp": {
      if (!v5) return { type, packetId: randomPacketId(r) };
      return withProperties(
        { type, packetId: randomPacketId(r), reasonCode: r.pick(REASON_CODES[type]) },
        r,
        type,
        version,
      );
    }
    case "subscribe": {
      const subscriptions: Subscription[] = [];
      for (let i = r.int(1, 4); i > 0; i--) {
        if (v5) {
          const shared = r.chance(0.2);
          subscriptions.push({
            filter: randomTopicFilter(r, shared),
            qos: r.int(0, 2) as QoS,
            noLocal: !shared && r.chance(),
            retainAsPublished: r.chance(),
            retainHandling: r.int(0, 2) as 0 | 1 | 2,
          });
        } else {
          subscriptions.push({ filter: randomTopicFilter(r, false), qos: r.int(0, 2) as QoS });
        }
      }
      return withProperties(
        { type: "subscribe", packetId: randomPacketId(r), subscriptions },
        r,
        "subscribe",
        version,
      );
    }
    case "suback": {
      const codes: number[] = [];
      for (let i = r.int(1, 5); i > 0; i--) {
        codes.push(v5 ? r.pick(REASON_CODES.suback) : r.pick([0, 1, 2, 0x80]));
      }
      return withProperties(
        { type: "suback", packetId: randomPacketId(r), reasonCodes: codes },
        r,
        "suback",
        version,
      );
    }
    case "unsubscribe": {
      const filters: string[] = [];
      for (let i = r.int(1, 4); i > 0; i--) filters.push(randomTopicFilter(r, v5 && r.chance(0.2)));
      return withProperties(
        { type: "unsubscribe", packetId: randomPacketId(r), filters },
        r,
        "unsubscribe",
        version,
      );
    }
    case "unsuback": {
      const codes: number[] = [];
      if (v5) { for (let i = r.int(1, 5); i > 0; i--) codes.push(r.pick(REASON_CODES.unsuback)); }
      return withProperties(
        { type: "unsuback", packetId: randomPacketId(r), reasonCodes: codes },
        r,
        "unsuback",
        version,
      );
    }
    case "pingreq":
    case "pingresp":
      return { type };
    case "disconnect":
      if (!v5) return { type: "disconnect" };
      return withProperties(
        { type: "disconnect", reasonCode: r.pick(REASON_CODES.disconnect) },
        r,
        "disconnect",
        version,
      );
    case "auth":
      return withProperties(
        { type: "auth", reasonCode: r.pick(REASON_CODES.auth) },
        r,
        "auth",
        version,
      );
  }
}

// ---- Checks

const REASON_CODES_OF_ERRORS = new Set([0x81, 0x82, 0x84, 0x94, 0x95]);

/** Feed chunks and collect packets; fails the test if anything throws. */
function drain(decoder: Decoder, chunks: Uint8Array[]): Packet[] {
  const packets: Packet[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let p = decoder.next(); p !== undefined; p = decoder.next()) packets.push(p);
  }
  return packets;
}

function assertWellFormedError(decoder: Decoder, context: string): void {
  const err = decoder.error;
  if (err === undefined) return;
  assert.ok(err instanceof MqttError, `${context}: ${err}`);
  assert.equal(typeof err.spec, "string", `${context}: no spec on "${err.message}"`);
  assert.ok(REASON_CODES_OF_ERRORS.has(err.reasonCode), `${context}: ${err.reasonCode}`);
  assert.match(err.message, /^Cannot decode /, context);
  assert.equal(decoder.bufferedBytes, 0, context);
}

function randomChunks(r: Random, bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const max = r.pick([1, 3, 16, 200, bytes.length || 1]);
  for (let off = 0; off < bytes.length;) {
    const size = r.int(1, max);
    chunks.push(bytes.slice(off, off + size));
    off += size;
  }
  return chunks;
}

describe("codec", () => {
  test("encodePacket() and decodePacket() round-trip every fixture", () => {
    for (const f of FIXTURES) {
      const bytes = encodePacket(f.packet, f.version);
      assert.equal(bytesToHex(bytes), f.hex, f.name);
      assert.deepStrictEqual(decodePacket(bytes, { protocolVersion: f.version }), f.packet, f.name);
      const decoded = decodePacket(hexToBytes(f.hex), { protocolVersion: f.version });
      assert.equal(bytesToHex(encodePacket(decoded, f.version)), f.hex, f.name);
    }
  });

  test("decodePacket() inverts encodePacket() on random packets of every type", () => {
    const r = new Random(20_261_125);
    let count = 0;
    for (let round = 0; round < 200; round++) {
      for (const version of VERSIONS) {
        for (const type of TYPES) {
          if (type === "auth" && version !== 5) continue;
          const packet = randomPacket(r, version, type);
          let bytes: Uint8Array;
          try {
            bytes = encodePacket(packet, version);
          } catch (e) {
            assert.fail(`encodePacket() refused ${JSON.stringify(packet)} v${version}: ${e}`);
          }
          const decoded = decodePacket(bytes, { protocolVersion: version });
          assert.deepStrictEqual(decoded, packet, `${type} v${version} round ${round}`);
          count++;
        }
      }
    }
    assert.ok(count > 8000);
  });

  test("Decoder.next() decodes a random stream of random packets in random chunks", () => {
    const r = new Random(42);
    for (let round = 0; round < 60; round++) {
      const version = r.pick(VERSIONS);
      const packets: Packet[] = [];
      for (let i = r.int(1, 40); i > 0; i--) {
        const type = r.pick(
          TYPES.filter((t) => t !== "connect" && (t !== "auth" || version === 5)),
        );
        packets.push(randomPacket(r, version, type));
      }
      const bytes = new Uint8Array(
        packets.reduce((n, p) => n + encodePacket(p, version).length, 0),
      );
      let off = 0;
      for (const p of packets) {
        const b = encodePacket(p, version);
        bytes.set(b, off);
        off += b.length;
      }
      const decoder = new Decoder({ protocolVersion: version });
      assert.deepStrictEqual(drain(decoder, randomChunks(r, bytes)), packets, `round ${round}`);
      assert.equal(decoder.error, undefined);
      assert.equal(decoder.bufferedBytes, 0);
    }
  });

  test("Decoder.push() never throws on random bytes", () => {
    const r = new Random(0xbad);
    let errors = 0;
    for (let round = 0; round < 3000; round++) {
      const options: DecoderOptions = r.chance(0.2)
        ? { side: "server" }
        : { protocolVersion: r.pick(VERSIONS) };
      if (r.chance(0.3)) options.maximumPacketSize = r.int(2, 300);
      // Bias the first byte towards valid types and flags, so more bytes get past the header
      const bytes = r.bytes(r.int(1, 120));
      if (r.chance(0.7)) bytes[0] = r.pick([0x10, 0x20, 0x30, 0x32, 0x40, 0x62, 0x82, 0xa2, 0xe0]);
      if (r.chance(0.7) && bytes.length > 1) bytes[1] = Math.min(bytes[1]! & 0x7f, bytes.length);
      const decoder = new Decoder(options);
      const packets = drain(decoder, randomChunks(r, bytes));
      assertWellFormedError(decoder, `round ${round} ${bytesToHex(bytes)}`);
      if (decoder.error !== undefined) errors++;
      for (const p of packets) assert.equal(typeof p.type, "string");
    }
    assert.ok(errors > 1000);
  });

  test("Decoder.push() never throws on mutated fixtures, and what decodes re-encodes", () => {
    const r = new Random(0xf00d);
    const inputs = [
      ...FIXTURES.map((f) => ({ version: f.version as ProtocolVersion | undefined, hex: f.hex })),
      ...MALFORMED_FIXTURES.map((f) => ({ version: f.version, hex: f.hex })),
    ];
    let decodedCount = 0;
    for (let round = 0; round < 12_000; round++) {
      const input = r.pick(inputs);
      const bytes = hexToBytes(input.hex);
      const mutated = mutate(r, bytes);
      const options: DecoderOptions = input.version === undefined || r.chance(0.1)
        ? { side: "server" }
        : { protocolVersion: input.version };
      const decoder = new Decoder(options);
      const packets = drain(decoder, randomChunks(r, mutated));
      const context = `round ${round} ${bytesToHex(mutated)}`;
      assertWellFormedError(decoder, context);
      // Whatever the decoder accepts, the encoder accepts, and it decodes back the same
      const version = decoder.protocolVersion;
      if (version === undefined) continue;
      for (const p of packets) {
        const v: ProtocolVersion = p.type === "connect" ? p.protocolVersion : version;
        let again: Uint8Array;
        try {
          again = encodePacket(p, v);
        } catch (e) {
          assert.fail(`${context}: encodePacket() refused a decoded ${p.type}: ${e}`);
        }
        assert.deepStrictEqual(decodePacket(again, { protocolVersion: v }), p, context);
        decodedCount++;
      }
    }
    assert.ok(decodedCount > 800, `only ${decodedCount} mutated packets decoded`);
  });
});

function mutate(r: Random, bytes: Uint8Array): Uint8Array {
  const out = Array.from(bytes);
  for (let i = r.chance(0.7) ? 1 : r.int(2, 3); i > 0; i--) {
    const at = r.int(0, Math.max(0, out.length - 1));
    switch (r.int(0, 4)) {
      case 0:
        out[at] = r.int(0, 255);
        break;
      case 1:
        out[at] = (out[at] ?? 0) ^ (1 << r.int(0, 7));
        break;
      case 2:
        out.splice(at, 0, r.int(0, 255));
        break;
      case 3:
        out.splice(at, 1);
        break;
      default:
        out.length = r.int(0, out.length);
    }
  }
  if (out.length === 0) out.push(0xc0, 0x00);
  return new Uint8Array(out);
}
