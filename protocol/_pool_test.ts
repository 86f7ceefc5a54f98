import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { allocate, copyOf, POOL_MAX, SLAB_SIZE } from "./_pool.ts";
import { Decoder } from "./decode.ts";
import { encodePacket, packetSize, writePacket } from "./encode.ts";
import type { ProtocolVersion, PublishPacket, QoS } from "./packet.ts";
import { PublishTemplate } from "./publish_template.ts";
import { Random } from "./_test_random.ts";

// Sizes around the pooling threshold, plus small and large ones.
const BOUNDARY_SIZES = [0, 1, 7, 8, 47, 48, 64, 1024, POOL_MAX - 1, POOL_MAX, POOL_MAX + 1];

/** A payload whose bytes depend on its index, so that a mix-up or overwrite shows. */
function payloadFor(index: number, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (index * 31 + i * 7 + 1) & 0xff;
  return bytes;
}

function publish(index: number, size: number, version: ProtocolVersion): PublishPacket {
  const qos = (index % 3) as QoS;
  const packet: PublishPacket = {
    type: "publish",
    topic: `pool/${index % 5}/${"x".repeat(index % 40)}`,
    payload: payloadFor(index, size),
    qos,
    retain: index % 2 === 0,
    dup: false,
  };
  if (qos !== 0) packet.packetId = (index % 65_535) + 1;
  if (version === 5 && index % 4 === 0) {
    packet.properties = { contentType: index % 8 === 0 ? "text/plain" : "application/json" };
  }
  return packet;
}

/** Sizes that cycle through the boundary sizes and random ones up to twice the threshold. */
function sizes(count: number, seed: number): number[] {
  const r = new Random(seed);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(i % 3 === 0 ? BOUNDARY_SIZES[i % BOUNDARY_SIZES.length]! : r.int(0, 2 * POOL_MAX));
  }
  return out;
}

/** Whether two arrays share bytes of the same buffer. */
function overlaps(a: Uint8Array, b: Uint8Array): boolean {
  if (a.buffer !== b.buffer || a.length === 0 || b.length === 0) return false;
  return a.byteOffset < b.byteOffset + b.length && b.byteOffset < a.byteOffset + a.length;
}

/** Assert that no two arrays overlap (sorting by buffer and offset). */
function assertDisjoint(arrays: Uint8Array[]): void {
  const ids = new Map<ArrayBufferLike, number>();
  const sorted = [...arrays].filter((a) => a.length > 0).sort((a, b) => {
    const ia = ids.get(a.buffer) ?? ids.set(a.buffer, ids.size).get(a.buffer)!;
    const ib = ids.get(b.buffer) ?? ids.set(b.buffer, ids.size).get(b.buffer)!;
    return ia - ib || a.byteOffset - b.byteOffset;
  });
  for (let i = 1; i < sorted.length; i++) {
    assert.ok(!overlaps(sorted[i - 1]!, sorted[i]!), "two arrays share bytes");
  }
}

describe("_pool", () => {
  test("allocate() returns zero-filled arrays that never share bytes", () => {
    const arrays: Uint8Array[] = [];
    // Enough to fill several slabs
    for (let i = 0; arrays.length < 4 * SLAB_SIZE / 100; i++) {
      const a = allocate(i % 200);
      assert.equal(a.length, i % 200);
      assert.ok(a.every((b) => b === 0));
      a.fill(0xff);
      arrays.push(a);
    }
    assertDisjoint(arrays);
    assert.ok(new Set(arrays.map((a) => a.buffer)).size >= 4);
  });

  test("allocate() pools sizes up to POOL_MAX and gives larger arrays their own buffer", () => {
    for (const size of BOUNDARY_SIZES) {
      const a = allocate(size);
      assert.equal(a.length, size);
      if (size <= POOL_MAX) assert.equal(a.buffer.byteLength, SLAB_SIZE, `size ${size}`);
      else assert.equal(a.buffer.byteLength, size, `size ${size}`);
    }
  });

  test("allocate() aligns arrays on 8 bytes", () => {
    for (const size of [1, 3, 8, 13, 100]) {
      assert.equal(allocate(size).byteOffset % 8, 0);
      assert.equal(allocate(size).byteOffset % 8, 0);
    }
  });

  test("copyOf() copies, whatever happens to the source afterwards", () => {
    const source = new Uint8Array(3 * POOL_MAX);
    for (const size of BOUNDARY_SIZES) {
      const expected = payloadFor(size, size);
      source.set(expected, 5);
      const copy = copyOf(source, 5, 5 + size);
      source.fill(0xee);
      assert.deepEqual(copy, expected, `size ${size}`);
      assert.notEqual(copy.buffer, source.buffer);
    }
  });
});

describe("Decoder payloads from the pool", () => {
  for (const version of [4, 5] as const) {
    test(`Decoder.next() payloads stay intact after many further pushes into a reused chunk (v${version})`, () => {
      const count = 1_500;
      const sizeList = sizes(count, 0x5eed + version);
      const stream: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        stream.push(encodePacket(publish(i, sizeList[i]!, version), version));
      }
      // Well over several slabs of payload bytes
      assert.ok(sizeList.reduce((a, b) => a + b, 0) > 10 * SLAB_SIZE);
      const total = stream.reduce((n, p) => n + p.length, 0);
      const all = new Uint8Array(total);
      let at = 0;
      for (const p of stream) {
        all.set(p, at);
        at += p.length;
      }
      // One read buffer reused for every chunk, as the socket adapters do
      const decoder = new Decoder({ protocolVersion: version });
      const chunk = new Uint8Array(1_000);
      const decoded: PublishPacket[] = [];
      for (let off = 0; off < all.length; off += chunk.length) {
        const n = Math.min(chunk.length, all.length - off);
        chunk.set(all.subarray(off, off + n));
        decoder.push(chunk.subarray(0, n));
        chunk.fill(0xee);
        for (let p = decoder.next(); p !== undefined; p = decoder.next()) {
          decoded.push(p as PublishPacket);
        }
      }
      assert.equal(decoder.error, undefined);
      assert.equal(decoded.length, count);
      for (let i = 0; i < count; i++) {
        assert.deepEqual(decoded[i], publish(i, sizeList[i]!, version), `packet ${i}`);
      }
      const payloads = decoded.map((p) => p.payload);
      assertDisjoint(payloads);
      // Writing into one payload changes no other
      payloads.forEach((p) => p.fill(0xab));
      for (let i = 0; i < count; i++) {
        assert.ok(payloads[i]!.every((b) => b === 0xab), `payload ${i}`);
      }
    });
  }

  test("Decoder.next() pools payloads up to POOL_MAX bytes and copies larger ones alone", () => {
    const decoder = new Decoder({ protocolVersion: 4 });
    for (const size of BOUNDARY_SIZES) {
      const bytes = encodePacket(publish(size, size, 4), 4);
      decoder.push(bytes);
      const p = decoder.next() as PublishPacket;
      bytes.fill(0);
      assert.deepEqual(p.payload, payloadFor(size, size), `size ${size}`);
      assert.equal(p.payload.buffer.byteLength, size <= POOL_MAX ? SLAB_SIZE : size);
    }
  });

  test("Decoder.next() payloads of packets split across chunks are copies", () => {
    for (const copyPayloads of [true, false]) {
      const decoder = new Decoder({ protocolVersion: 4, copyPayloads });
      const bytes = encodePacket(publish(1, 100, 4), 4);
      const first = bytes.slice(0, 50);
      const second = bytes.slice(50);
      decoder.push(first);
      decoder.push(second);
      const p = decoder.next() as PublishPacket;
      first.fill(0);
      second.fill(0);
      assert.deepEqual(p.payload, payloadFor(1, 100));
      // A second packet reuses the decoder's buffer: the first payload must not change
      decoder.push(encodePacket(publish(2, 100, 4), 4).subarray(0, 60));
      decoder.push(encodePacket(publish(2, 100, 4), 4).subarray(60));
      assert.deepEqual((decoder.next() as PublishPacket).payload, payloadFor(2, 100));
      assert.deepEqual(p.payload, payloadFor(1, 100));
    }
  });

  test("Decoder.next() with copyPayloads false returns views of the pushed chunk", () => {
    const decoder = new Decoder({ protocolVersion: 5, copyPayloads: false });
    const packets = [0, 1, 2].map((i) => encodePacket(publish(i, 10 + i, 5), 5));
    const chunk = new Uint8Array(packets.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of packets) {
      chunk.set(p, at);
      at += p.length;
    }
    decoder.push(chunk);
    const decoded = [decoder.next(), decoder.next(), decoder.next()] as PublishPacket[];
    decoded.forEach((p, i) => {
      assert.equal(p.payload.buffer, chunk.buffer);
      assert.deepEqual(p.payload, payloadFor(i, 10 + i));
    });
    assertDisjoint(decoded.map((p) => p.payload));
  });

  test("Decoder() rejects a copyPayloads that is not a boolean", () => {
    assert.throws(
      () => new Decoder({ copyPayloads: "no" as unknown as boolean }),
      TypeError,
    );
  });
});

describe("encodePacket() from the pool", () => {
  test("encodePacket() outputs stay intact after many further encodes", () => {
    const count = 2_000;
    const sizeList = sizes(count, 0xe5c0de);
    const kept: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const version = i % 2 === 0 ? 4 : 5;
      kept.push(encodePacket(publish(i, sizeList[i]!, version), version));
      // Other packet types come from the same pool
      kept.push(encodePacket({ type: "puback", packetId: (i % 65_535) + 1 }, 4));
    }
    assert.ok(kept.reduce((n, p) => n + p.length, 0) > 10 * SLAB_SIZE);
    for (let i = 0; i < count; i++) {
      const version = i % 2 === 0 ? 4 : 5;
      const packet = publish(i, sizeList[i]!, version);
      const expected = new Uint8Array(packetSize(packet, version));
      writePacket(packet, version, expected, 0);
      assert.deepEqual(kept[2 * i], expected, `packet ${i}`);
      assert.deepEqual(
        kept[2 * i + 1],
        encodePacket({ type: "puback", packetId: (i % 65_535) + 1 }, 4),
      );
    }
    assertDisjoint(kept);
  });

  test("encodePacket() pools packets up to POOL_MAX bytes and gives larger ones their own buffer", () => {
    // Payload sizes putting the whole packet around the threshold
    const overhead = packetSize(publish(0, 0, 4), 4);
    const seen = new Set<number>();
    for (let size = POOL_MAX - overhead - 4; size <= POOL_MAX - overhead + 2; size++) {
      const packet = publish(0, size, 4);
      const bytes = encodePacket(packet, 4);
      const total = bytes.length;
      seen.add(total);
      assert.equal(bytes.buffer.byteLength, total <= POOL_MAX ? SLAB_SIZE : total, `${total}`);
      const fresh = new Uint8Array(total);
      writePacket(packet, 4, fresh, 0);
      assert.deepEqual(bytes, fresh);
    }
    assert.ok(seen.has(POOL_MAX) && seen.has(POOL_MAX + 1) && seen.has(POOL_MAX - 1));
  });

  test("PublishTemplate.withPacketId() patches only its own packet", () => {
    const packet = publish(1, 20, 4);
    const a = PublishTemplate.from(packet, 4);
    const b = PublishTemplate.from(packet, 4);
    const copy = b.bytes.slice();
    for (let id = 1; id < 500; id++) a.withPacketId(id);
    assert.deepEqual(b.bytes, copy);
  });
});
