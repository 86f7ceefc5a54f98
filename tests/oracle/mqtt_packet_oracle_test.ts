/**
 * npm's `mqtt-packet` as an independent oracle for the codec, on seeded random packets of
 * every type, for MQTT 3.1.1 (level 4) and MQTT 5.0 (level 5):
 * - our `encodePacket()` output, parsed by mqtt-packet, gives the same fields;
 * - mqtt-packet's `generate()` output, streamed through our `Decoder`, gives the same fields;
 * - where both codecs choose the same wire form, the bytes are identical.
 *
 * A failure names the seed (in the test name) and the packet index; the packet sequence of a
 * seed is the same on every runtime, so it replays exactly.
 *
 * What mqtt-packet cannot represent or parse is kept out by the generator
 * (`_random_packet.ts`), each case with its reason; the shape differences are in
 * `_mqtt_packet_shape.ts`.
 *
 * @module
 */

import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import mqttPacket from "mqtt-packet";
import { Decoder } from "../../protocol/decode.ts";
import { encodePacket } from "../../protocol/encode.ts";
import type { Packet } from "../../protocol/packet.ts";
import { bytesToHex } from "../../protocol/_fixtures.ts";
import {
  bufferBytes,
  fromMqttPacket,
  groupUserProperties,
  type MqttPacket,
  toMqttPacket,
} from "./_mqtt_packet_shape.ts";
import { type OracleVersion, randomPacket, Rng } from "./_random_packet.ts";

// Packets per test; two seeds per version and direction give a few thousand each way.
const COUNT = 2_000;
const SEEDS = [0x6d71_0001, 0x6d71_0002];
const VERSIONS: readonly OracleVersion[] = [4, 5];

function show(packet: unknown): string {
  const text = JSON.stringify(packet, (_key, value) => {
    if (value instanceof Uint8Array) {
      return value.length > 64
        ? `<${value.length} bytes ${bytesToHex(value.subarray(0, 32))}...>`
        : `<${bytesToHex(value)}>`;
    }
    return value;
  });
  return text.length > 4_000 ? `${text.slice(0, 4_000)}...` : text;
}

function where(seed: number, index: number, packet: Packet): string {
  return `seed 0x${seed.toString(16)}, packet #${index}: ${show(packet)}`;
}

/** The first offset where two byte arrays differ, or -1 when they are equal. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function window(bytes: Uint8Array, at: number): string {
  return bytesToHex(bytes.subarray(Math.max(0, at - 8), at + 8));
}

/** A parser of one protocol version that hands back the packets of each `parse()` call. */
class MqttPacketParser {
  readonly #parser: ReturnType<typeof mqttPacket.parser>;
  #packets: MqttPacket[] = [];
  #errors: unknown[] = [];

  constructor(version: OracleVersion) {
    this.#parser = mqttPacket.parser({ protocolVersion: version });
    this.#parser.on("packet", (packet) => this.#packets.push(packet));
    this.#parser.on("error", (error) => this.#errors.push(error));
  }

  parse(bytes: Uint8Array): { packets: MqttPacket[]; errors: unknown[]; left: number } {
    this.#packets = [];
    this.#errors = [];
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    const left = this.#parser.parse(buffer);
    return { packets: this.#packets, errors: this.#errors, left };
  }
}

function generate(packet: Packet, version: OracleVersion): Uint8Array {
  return bufferBytes(
    mqttPacket.generate(toMqttPacket(packet, version), { protocolVersion: version }),
  );
}

/**
 * Whether mqtt-packet's generate() writes the same bytes as our encoder for this packet (once
 * its user properties are grouped and its properties are in identifier order). The canonical
 * forms differ only in MQTT 5 packets whose reason code and Property Length can be left out:
 * - DISCONNECT and AUTH without properties: we write Remaining Length 0 for reason 0 and 1
 *   for another code (3.14.2.1, 3.15.2.1); mqtt-packet always writes the reason code and a
 *   Property Length of 0;
 * - PUBACK, PUBREC, PUBREL and PUBCOMP with a reason code other than 0 and no properties: we
 *   write Remaining Length 3 (3.4.2.1); mqtt-packet writes 4, with a Property Length of 0.
 */
function sameWireForm(packet: Packet, version: OracleVersion): boolean {
  if (version !== 5) return true;
  switch (packet.type) {
    case "disconnect":
    case "auth":
      return packet.properties !== undefined;
    case "puback":
    case "pubrec":
    case "pubrel":
    case "pubcomp":
      return packet.properties !== undefined || packet.reasonCode === 0;
    default:
      return true;
  }
}

describe("mqtt-packet oracle", () => {
  for (const version of VERSIONS) {
    for (const seed of SEEDS) {
      const label = `v${version}, seed 0x${seed.toString(16)}, ${COUNT} packets`;

      test(`encodePacket() output parses in mqtt-packet to the same fields (${label})`, () => {
        const rng = new Rng(seed);
        // DISCONNECT and AUTH of Remaining Length 0 or 1 are parsed by mqtt-packet against all
        // the input it holds rather than the packet's length, so a following packet would be
        // misread: each packet gets its own parse() call.
        const parser = new MqttPacketParser(version);
        for (let i = 0; i < COUNT; i++) {
          const packet = randomPacket(rng, version, "parser");
          const bytes = encodePacket(packet, version);
          const { packets, errors, left } = parser.parse(bytes);
          assert.deepEqual(errors, [], where(seed, i, packet));
          assert.equal(packets.length, 1, where(seed, i, packet));
          assert.equal(left, 0, where(seed, i, packet));
          assert.deepEqual(
            fromMqttPacket(packets[0]!, version),
            groupUserProperties(packet),
            where(seed, i, packet),
          );
        }
      });

      test(`Decoder.next() returns the fields of mqtt-packet generate() output (${label})`, () => {
        const rng = new Rng(seed ^ 0x5a5a_5a5a);
        const packets: Packet[] = [];
        const wire: Uint8Array[] = [];
        let total = 0;
        for (let i = 0; i < COUNT; i++) {
          const packet = randomPacket(rng, version, "generator");
          let bytes: Uint8Array;
          try {
            bytes = generate(packet, version);
          } catch (e) {
            assert.fail(`mqtt-packet generate() failed (${String(e)}), ${where(seed, i, packet)}`);
          }
          packets.push(packet);
          wire.push(bytes);
          total += bytes.length;
        }
        // One stream, as a connection delivers it, cut into chunks of random sizes
        const stream = new Uint8Array(total);
        let offset = 0;
        for (const bytes of wire) {
          stream.set(bytes, offset);
          offset += bytes.length;
        }
        const decoder = new Decoder({ protocolVersion: version });
        const decoded: Packet[] = [];
        for (let at = 0; at < total;) {
          const size = rng.chance(0.1) ? rng.int(1, 8) : rng.int(1, 65_536);
          decoder.push(stream.subarray(at, Math.min(total, at + size)));
          at += size;
          for (let p = decoder.next(); p !== undefined; p = decoder.next()) decoded.push(p);
          if (decoder.error !== undefined) {
            const i = decoded.length;
            assert.fail(
              `Decoder failed (${decoder.error.name} ${decoder.error.reasonCode}: ` +
                `${decoder.error.message}), ${where(seed, i, packets[i]!)}`,
            );
          }
        }
        assert.equal(decoder.bufferedBytes, 0);
        assert.equal(decoded.length, COUNT);
        for (let i = 0; i < COUNT; i++) {
          assert.deepEqual(
            groupUserProperties(decoded[i]!),
            groupUserProperties(packets[i]!),
            where(seed, i, packets[i]!),
          );
        }
      });

      test(`encodePacket() matches mqtt-packet generate() byte for byte in the same wire form (${label})`, () => {
        const rng = new Rng(seed ^ 0x3c3c_3c3c);
        let compared = 0;
        for (let i = 0; i < COUNT; i++) {
          const packet = groupUserProperties(randomPacket(rng, version, "generator"));
          if (!sameWireForm(packet, version)) continue;
          compared++;
          const ours = encodePacket(packet, version);
          const theirs = generate(packet, version);
          const at = firstDifference(ours, theirs);
          if (at >= 0) {
            assert.fail(
              `bytes differ at offset ${at} (ours ${ours.length} bytes, mqtt-packet ` +
                `${theirs.length}): ours ${window(ours, at)}, mqtt-packet ${window(theirs, at)}; ` +
                where(seed, i, packet),
            );
          }
        }
        assert.ok(compared > COUNT / 2, `only ${compared} packets compared`);
      });
    }
  }
});
