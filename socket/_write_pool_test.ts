import { describe, test } from "../tests/_testing.ts";
import assert from "node:assert/strict";
import { WritePool } from "./_write_pool.ts";

describe("WritePool", () => {
  test("take() returns queues given back, last first, and nothing when empty", () => {
    const pool = new WritePool();
    const a = new Uint8Array(2048);
    const b = new Uint8Array(4096);
    pool.give(a);
    pool.give(b);
    assert.equal(pool.take(3000), b);
    assert.equal(pool.take(1000), a);
    assert.equal(pool.take(1), undefined);
  });

  test("take() drops a queue smaller than asked for", () => {
    const pool = new WritePool();
    pool.give(new Uint8Array(2048));
    assert.equal(pool.take(4096), undefined);
    assert.equal(pool.take(1), undefined);
  });

  test("give() keeps no queue over 256 KiB and no more than 1 MiB in all", () => {
    const pool = new WritePool();
    pool.give(new Uint8Array(256 * 1024 + 1));
    assert.equal(pool.take(1), undefined);
    const kept = Array.from({ length: 5 }, () => new Uint8Array(256 * 1024));
    for (const queue of kept) pool.give(queue);
    const back = [pool.take(1), pool.take(1), pool.take(1), pool.take(1), pool.take(1)];
    assert.deepEqual(back.map((q) => q === undefined), [false, false, false, false, true]);
  });
});
