/**
 * Codec benchmark (not a test): PUBLISH encode and decode in packets per second, ours beside
 * npm's `mqtt-packet`, for QoS 0 and 1, 64 B and 1 KiB payloads, MQTT 3.1.1 and MQTT 5 (with
 * two properties: message expiry interval and content type).
 *
 * Encode, ours three ways: `encodePacket()` (a new array per packet), `writePacket()` into one
 * reused buffer, and `PublishTemplate` fan-out (one `from()` per 10 recipients, then
 * `withPacketId()` per recipient for QoS 1; QoS 0 recipients share the bytes); mqtt-packet:
 * `generate()`. Decode: a stream of about 1 MiB of packets cut into 64 KiB chunks, as a broker
 * reads them, through `Decoder.push()`/`next()` and through mqtt-packet's `parser().parse()`
 * with its `packet` event.
 *
 * Each implementation runs in its own child process of the same runtime: measured in one
 * process, the garbage and JIT state one leaves behind changed the other's rate by up to 2x
 * (mqtt-packet's parser ran at half speed after our encoders). A child warms up on each case
 * and then measures it in rounds; the table shows medians and the ratio ours / mqtt-packet
 * (encoders against `generate()`, the decoder against `parse()`).
 *
 * Run: `deno task bench:codec` (Deno then Bun), or `deno run -A scripts/bench_codec.ts`,
 * `bun scripts/bench_codec.ts`. Options: `--json` (JSON instead of the table), `--rounds N`
 * (default 5), `--ms N` per round (default 120), `--warmup N` ms per case (default 200).
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { Buffer } from "node:buffer";
import process from "node:process";
import { fileURLToPath } from "node:url";
import mqttPacket from "mqtt-packet";
import { Decoder } from "../protocol/decode.ts";
import { encodePacket, writePacket } from "../protocol/encode.ts";
import type { ProtocolVersion, PublishPacket, QoS } from "../protocol/packet.ts";
import { PublishTemplate } from "../protocol/publish_template.ts";

interface Case {
  version: 4 | 5;
  qos: QoS;
  size: number;
}

type Op = "encode" | "decode";

interface Impl {
  name: string;
  op: Op;
  peer: boolean;
  /** Build the measurement of one case: each call works for about `ms` and returns a rate. */
  setup: (c: Case) => (ms: number) => number;
}

interface Result {
  version: number;
  qos: number;
  payload: number;
  op: Op;
  impl: string;
  /** Median packets per second. */
  packetsPerSecond: number;
  /** The rate of every round, in packets per second. */
  rounds: number[];
}

interface Row extends Result {
  /** This implementation's rate over mqtt-packet's for the same operation and case. */
  ratio: number;
}

const args = process.argv.slice(2);
function option(name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}
const ROUNDS = option("--rounds", 5);
const ROUND_MS = option("--ms", 120);
const WARMUP_MS = option("--warmup", 200);

const TOPIC = "sensors/building-7/floor-3/room-12/temperature";
const STREAM_BYTES = 1 << 20;
const CHUNK = 64 * 1024;
const FAN_OUT = 10;
const BATCH = 1_000;

const CASES: Case[] = [];
for (const version of [4, 5] as const) {
  for (const qos of [0, 1] as const) {
    for (const size of [64, 1024]) CASES.push({ version, qos, size });
  }
}

// Keeps results alive so that the work cannot be optimised away.
let sink = 0;

function makePacket(c: Case): PublishPacket {
  const payload = new Uint8Array(c.size);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
  const packet: PublishPacket = {
    type: "publish",
    topic: TOPIC,
    payload,
    qos: c.qos,
    retain: false,
    dup: false,
  };
  if (c.qos !== 0) packet.packetId = 1;
  if (c.version === 5) {
    packet.properties = { messageExpiryInterval: 3_600, contentType: "application/json" };
  }
  return packet;
}

function theirPacket(packet: PublishPacket): mqttPacket.IPublishPacket {
  const out: mqttPacket.IPublishPacket = {
    cmd: "publish",
    topic: packet.topic,
    payload: Buffer.from(packet.payload),
    qos: packet.qos,
    dup: packet.dup,
    retain: packet.retain,
  };
  if (packet.packetId !== undefined) out.messageId = packet.packetId;
  if (packet.properties !== undefined) {
    out.properties = {
      messageExpiryInterval: packet.properties.messageExpiryInterval!,
      contentType: packet.properties.contentType!,
    };
  }
  return out;
}

/** Repeat `batch()` (which returns the packets it handled) for about `ms`; returns a rate. */
function timed(ms: number, batch: () => number): number {
  let packets = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    packets += batch();
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return packets / (elapsed / 1000);
}

function nextId(id: number): number {
  return id === 0xffff ? 1 : id + 1;
}

/** About 1 MiB of one case's packets with distinct packet identifiers, in 64 KiB chunks. */
function makeStream(c: Case): { chunks: Uint8Array[]; count: number } {
  const version = c.version as ProtocolVersion;
  const packet = makePacket(c);
  const one = encodePacket(packet, version).length;
  const count = Math.max(1, Math.floor(STREAM_BYTES / one));
  const stream = new Uint8Array(count * one);
  for (let i = 0, id = 1; i < count; i++, id = nextId(id)) {
    if (c.qos !== 0) packet.packetId = id;
    writePacket(packet, version, stream, i * one);
  }
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < stream.length; at += CHUNK) {
    chunks.push(stream.subarray(at, Math.min(stream.length, at + CHUNK)));
  }
  return { chunks, count };
}

const IMPLS: Impl[] = [
  {
    name: "ours encodePacket",
    op: "encode",
    peer: false,
    setup: (c) => {
      const version = c.version as ProtocolVersion;
      const packet = makePacket(c);
      let id = 1;
      return (ms) =>
        timed(ms, () => {
          for (let i = 0; i < BATCH; i++) {
            if (c.qos !== 0) packet.packetId = id = nextId(id);
            sink += encodePacket(packet, version).length;
          }
          return BATCH;
        });
    },
  },
  {
    name: "ours writePacket",
    op: "encode",
    peer: false,
    setup: (c) => {
      const version = c.version as ProtocolVersion;
      const packet = makePacket(c);
      const buffer = new Uint8Array(64 * 1024);
      let id = 1;
      return (ms) =>
        timed(ms, () => {
          for (let i = 0; i < BATCH; i++) {
            if (c.qos !== 0) packet.packetId = id = nextId(id);
            sink += writePacket(packet, version, buffer, 0);
          }
          return BATCH;
        });
    },
  },
  {
    name: `ours template 1:${FAN_OUT}`,
    op: "encode",
    peer: false,
    setup: (c) => {
      const version = c.version as ProtocolVersion;
      const packet = makePacket(c);
      let id = 1;
      return (ms) =>
        timed(ms, () => {
          for (let i = 0; i < BATCH; i += FAN_OUT) {
            const template = PublishTemplate.from(packet, version);
            for (let j = 0; j < FAN_OUT; j++) {
              sink += c.qos === 0
                ? template.bytes.length
                : template.withPacketId(id = nextId(id)).length;
            }
          }
          return BATCH;
        });
    },
  },
  {
    name: "mqtt-packet generate",
    op: "encode",
    peer: true,
    setup: (c) => {
      const packet = theirPacket(makePacket(c));
      const opts = { protocolVersion: c.version };
      let id = 1;
      return (ms) =>
        timed(ms, () => {
          for (let i = 0; i < BATCH; i++) {
            if (c.qos !== 0) packet.messageId = id = nextId(id);
            sink += mqttPacket.generate(packet, opts).length;
          }
          return BATCH;
        });
    },
  },
  {
    name: "ours Decoder",
    op: "decode",
    peer: false,
    setup: (c) => {
      const { chunks, count } = makeStream(c);
      const decoder = new Decoder({ protocolVersion: c.version });
      return (ms) =>
        timed(ms, () => {
          let n = 0;
          for (const chunk of chunks) {
            decoder.push(chunk);
            for (let p = decoder.next(); p !== undefined; p = decoder.next()) {
              n++;
              sink += (p as PublishPacket).payload.length;
            }
          }
          if (n !== count || decoder.error !== undefined) {
            throw new Error(`Decoder returned ${n} of ${count} packets: ${decoder.error}`);
          }
          return n;
        });
    },
  },
  {
    name: "mqtt-packet parser",
    op: "decode",
    peer: true,
    setup: (c) => {
      const { chunks, count } = makeStream(c);
      const buffers = chunks.map((u) => Buffer.from(u.buffer, u.byteOffset, u.length));
      const parser = mqttPacket.parser({ protocolVersion: c.version });
      let parsed = 0;
      parser.on("packet", (p) => {
        parsed++;
        sink += (p as mqttPacket.IPublishPacket).payload.length;
      });
      parser.on("error", (e) => {
        throw e;
      });
      return (ms) =>
        timed(ms, () => {
          parsed = 0;
          for (const buffer of buffers) parser.parse(buffer);
          if (parsed !== count) throw new Error(`parser emitted ${parsed} of ${count} packets`);
          return parsed;
        });
    },
  },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Measure one implementation on every case (in a child process). */
function measureImpl(impl: Impl): Result[] {
  return CASES.map((c) => {
    const run = impl.setup(c);
    run(WARMUP_MS);
    const rounds: number[] = [];
    for (let r = 0; r < ROUNDS; r++) rounds.push(Math.round(run(ROUND_MS)));
    return {
      version: c.version,
      qos: c.qos,
      payload: c.size,
      op: impl.op,
      impl: impl.name,
      packetsPerSecond: Math.round(median(rounds)),
      rounds,
    };
  });
}

function runtimeName(): string {
  const v = process.versions as Record<string, string | undefined>;
  if (v.bun !== undefined) return `bun ${v.bun}`;
  if (v.deno !== undefined) return `deno ${v.deno}`;
  return `node ${v.node}`;
}

/** Run one implementation in a child process of this runtime and read its results. */
function spawnImpl(index: number): Result[] {
  const script = fileURLToPath(import.meta.url);
  const isDeno = (process.versions as Record<string, string | undefined>).deno !== undefined;
  const runtimeArgs = isDeno ? ["run", "-A", script] : [script];
  const passed = ["--rounds", String(ROUNDS), "--ms", String(ROUND_MS)];
  passed.push("--warmup", String(WARMUP_MS));
  const child = spawnSync(process.execPath, [...runtimeArgs, "--child", String(index), ...passed], {
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  if (child.status !== 0) {
    throw new Error(`Benchmark of ${IMPLS[index]!.name} failed: ${child.stderr || child.error}`);
  }
  return JSON.parse(child.stdout) as Result[];
}

function format(rate: number): string {
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)} M`;
  return `${(rate / 1e3).toFixed(0)} k`;
}

function caseName(r: Result): string {
  const size = r.payload >= 1024 ? `${r.payload / 1024} KiB` : `${r.payload} B`;
  return `v${r.version} QoS ${r.qos} ${size}`;
}

/** One row per case, one column per implementation: rate and, for ours, the ratio. */
function table(rows: Row[]): string {
  const header = ["case", ...IMPLS.map((impl) => impl.name)];
  const lines: string[][] = [];
  for (let c = 0; c < CASES.length; c++) {
    const cells = [caseName(rows[c * IMPLS.length]!)];
    for (const impl of IMPLS) {
      const r = rows.find((row) => row.impl === impl.name && caseName(row) === cells[0])!;
      cells.push(
        impl.peer
          ? format(r.packetsPerSecond)
          : `${format(r.packetsPerSecond)} (${r.ratio.toFixed(1)}x)`,
      );
    }
    lines.push(cells);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => i > 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)).join(" | ")} |`;
  const rule = `| ${
    widths.map((w, i) => i > 0 ? "-".repeat(w - 1) + ":" : "-".repeat(w)).join(" | ")
  } |`;
  return [line(header), rule, ...lines.map(line)].join("\n");
}

const childIndex = args.indexOf("--child");
if (childIndex >= 0) {
  const impl = IMPLS[Number(args[childIndex + 1])]!;
  console.log(JSON.stringify(measureImpl(impl)));
} else {
  const started = performance.now();
  const results = IMPLS.map((_, i) => spawnImpl(i));
  const seconds = (performance.now() - started) / 1000;
  const rows: Row[] = [];
  for (let c = 0; c < CASES.length; c++) {
    IMPLS.forEach((impl, i) => {
      const peer = results[IMPLS.findIndex((p) => p.peer && p.op === impl.op)]![c]!;
      const result = results[i]![c]!;
      rows.push({ ...result, ratio: result.packetsPerSecond / peer.packetsPerSecond });
    });
  }
  const runtime = runtimeName();
  if (args.includes("--json")) {
    console.log(
      JSON.stringify({ runtime, rounds: ROUNDS, roundMs: ROUND_MS, topic: TOPIC, rows }, null, 2),
    );
  } else {
    console.log(
      `Codec benchmark, ${runtime}: median of ${ROUNDS} rounds of ${ROUND_MS} ms, ` +
        `each implementation in its own process (${seconds.toFixed(0)} s)`,
    );
    console.log(
      `PUBLISH to "${TOPIC}"; MQTT 5 with message expiry and content type. Packets per ` +
        "second; in brackets ours / mqtt-packet (encoders against generate, Decoder against " +
        "parser).\n",
    );
    console.log(table(rows));
    const below = rows.filter((r) => !r.impl.startsWith("mqtt-packet") && r.ratio < 3);
    console.log(
      below.length === 0
        ? "\nEvery case is at least 3x mqtt-packet."
        : `\nBelow 3x mqtt-packet: ${
          below.map((r) => `${caseName(r)} ${r.impl} ${r.ratio.toFixed(2)}x`).join("; ")
        }`,
    );
  }
}
if (sink === -1) console.log("unreachable");
