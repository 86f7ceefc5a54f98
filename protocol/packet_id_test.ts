import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MAX_PACKET_ID, PacketIdAllocator } from "./packet_id.ts";

describe("PacketIdAllocator", () => {
  test("allocate() counts up from 1", () => {
    const ids = new PacketIdAllocator();
    assert.deepEqual([ids.allocate(), ids.allocate(), ids.allocate()], [1, 2, 3]);
    assert.equal(ids.size, 3);
  });

  test("allocate() moves on past a released id instead of reusing it at once", () => {
    const ids = new PacketIdAllocator();
    ids.allocate();
    ids.allocate();
    assert.equal(ids.release(1), true);
    assert.equal(ids.allocate(), 3);
    assert.equal(ids.isInUse(1), false);
    assert.equal(ids.size, 2);
  });

  test("allocate() wraps from 65535 to 1 and skips ids in use", () => {
    const ids = new PacketIdAllocator();
    for (let i = 1; i <= MAX_PACKET_ID; i++) assert.equal(ids.allocate(), i);
    // Free a few ids spread over the range; allocation wraps and finds them in order.
    for (const id of [5, 2048, 2049, 40_000, 65_535]) ids.release(id);
    assert.deepEqual(
      [ids.allocate(), ids.allocate(), ids.allocate(), ids.allocate(), ids.allocate()],
      [5, 2048, 2049, 40_000, 65_535],
    );
  });

  test("allocate() returns undefined when all 65535 ids are in use, then the freed one", () => {
    const ids = new PacketIdAllocator();
    for (let i = 0; i < MAX_PACKET_ID; i++) assert.notEqual(ids.allocate(), undefined);
    assert.equal(ids.size, MAX_PACKET_ID);
    assert.equal(ids.allocate(), undefined);
    ids.release(12_345);
    assert.equal(ids.allocate(), 12_345);
    assert.equal(ids.allocate(), undefined);
  });

  test("allocate() never returns 0", () => {
    const ids = new PacketIdAllocator();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < MAX_PACKET_ID; i++) {
        const id = ids.allocate()!;
        assert.ok(id >= 1 && id <= MAX_PACKET_ID);
        ids.release(id);
      }
    }
  });

  test("reserve() marks a given id and allocate() skips it", () => {
    const ids = new PacketIdAllocator();
    assert.equal(ids.reserve(2), true);
    assert.equal(ids.reserve(2), false);
    assert.deepEqual([ids.allocate(), ids.allocate()], [1, 3]);
  });

  test("release() returns false for an id not in use", () => {
    const ids = new PacketIdAllocator();
    assert.equal(ids.release(9), false);
    ids.allocate();
    assert.equal(ids.release(1), true);
    assert.equal(ids.release(1), false);
    assert.equal(ids.size, 0);
  });

  test("isInUse(), release() and reserve() throw RangeError outside 1..65535", () => {
    const ids = new PacketIdAllocator();
    for (const id of [0, -1, 65_536, 1.5, NaN]) {
      assert.throws(() => ids.isInUse(id), RangeError, `id ${id}`);
      assert.throws(() => ids.release(id), RangeError, `id ${id}`);
      assert.throws(() => ids.reserve(id), RangeError, `id ${id}`);
    }
  });

  test("clear() frees everything and restarts at 1", () => {
    const ids = new PacketIdAllocator();
    for (let i = 0; i < 5000; i++) ids.allocate();
    ids.clear();
    assert.equal(ids.size, 0);
    assert.equal(ids.isInUse(100), false);
    assert.equal(ids.allocate(), 1);
  });

  test("allocate() and release() agree with a Set model under random use", () => {
    const ids = new PacketIdAllocator();
    const model = new Set<number>();
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    let last = 0;
    for (let step = 0; step < 200_000; step++) {
      if (model.size > 0 && random() < 0.45) {
        const victim = model.values().next().value!;
        assert.equal(ids.release(victim), true);
        model.delete(victim);
      } else {
        const id = ids.allocate()!;
        assert.equal(model.has(id), false, `id ${id} handed out twice`);
        // The next free id after the last one, cyclically.
        let expected = last;
        do expected = expected === MAX_PACKET_ID ? 1 : expected + 1; while (model.has(expected));
        assert.equal(id, expected);
        model.add(id);
        last = id;
      }
      assert.equal(ids.size, model.size);
    }
  });
});
