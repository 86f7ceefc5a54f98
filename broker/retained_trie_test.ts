import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { matchTopic } from "../protocol/topic.ts";
import { RetainedTrie } from "./retained_trie.ts";

/** xorshift32, seeded: every run sees the same inputs. Returns a float in [0, 1). */
function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** The topics a filter matches, sorted, checking each is reported once with its message. */
function topicsFor<M>(retained: RetainedTrie<M>, filter: string): string[] {
  const out: string[] = [];
  retained.match(filter, (topic, message) => {
    assert.equal(retained.get(topic), message);
    out.push(topic);
  });
  out.sort();
  assert.equal(new Set(out).size, out.length, `duplicates for ${filter}`);
  return out;
}

/** The spec's topics (v5 §4.7) and which of them each filter matches. */
const SPEC_TOPICS = [
  "sport",
  "sport/",
  "sports",
  "sport/tennis",
  "sport/tennis/player1",
  "sport/tennis/player1/ranking",
  "sport/tennis/player1/score/wimbledon",
  "sport/tennis/player2",
  "/finance",
  "finance",
  "/",
  "$SYS",
  "$SYS/monitor/Clients",
  "Accounts",
  "Accounts payable",
  "a/$x",
];
const SPEC_TABLE: [string, string[]][] = [
  ["sport/tennis/player1/#", [
    "sport/tennis/player1",
    "sport/tennis/player1/ranking",
    "sport/tennis/player1/score/wimbledon",
  ]],
  ["sport/#", [
    "sport",
    "sport/",
    "sport/tennis",
    "sport/tennis/player1",
    "sport/tennis/player1/ranking",
    "sport/tennis/player1/score/wimbledon",
    "sport/tennis/player2",
  ]],
  ["sport/tennis/+", ["sport/tennis/player1", "sport/tennis/player2"]],
  ["sport/+", ["sport/", "sport/tennis"]],
  ["+/+", ["/", "/finance", "a/$x", "sport/", "sport/tennis"]],
  ["/+", ["/", "/finance"]],
  ["+", ["Accounts", "Accounts payable", "finance", "sport", "sports"]],
  ["sport/+/player1", ["sport/tennis/player1"]],
  ["+/monitor/Clients", []],
  ["$SYS/#", ["$SYS", "$SYS/monitor/Clients"]],
  ["$SYS/monitor/+", ["$SYS/monitor/Clients"]],
  ["$SYS", ["$SYS"]],
  ["ACCOUNTS", []],
  ["Accounts payable", ["Accounts payable"]],
  ["a/+", ["a/$x"]],
  ["nothing/#", []],
];

describe("RetainedTrie", () => {
  test("match() follows the spec's examples", () => {
    const retained = new RetainedTrie<string>();
    for (const topic of SPEC_TOPICS) retained.set(topic, `m:${topic}`);
    for (const [filter, want] of SPEC_TABLE) {
      assert.deepEqual(topicsFor(retained, filter), [...want].sort(), filter);
    }
    const all = SPEC_TOPICS.filter((t) => !t.startsWith("$")).sort();
    assert.deepEqual(topicsFor(retained, "#"), all);
    for (const [filter] of SPEC_TABLE) {
      const want = SPEC_TOPICS.filter((t) => matchTopic(filter, t)).sort();
      assert.deepEqual(topicsFor(retained, filter), want, filter);
    }
  });

  test("set(), get(), has() and delete() keep one message per topic", () => {
    const retained = new RetainedTrie<string>();
    assert.equal(retained.set("a/b", "1"), true);
    assert.equal(retained.set("a/b", "2"), false);
    assert.equal(retained.set("a", "3"), true);
    assert.equal(retained.size, 2);
    assert.equal(retained.get("a/b"), "2");
    assert.equal(retained.get("a/b/c"), undefined);
    assert.equal(retained.get("b"), undefined);
    assert.equal(retained.has("a"), true);
    assert.equal(retained.has("a/"), false);
    assert.equal(retained.delete("a/"), false);
    assert.equal(retained.delete("a"), true);
    assert.equal(retained.has("a"), false);
    assert.equal(retained.get("a/b"), "2");
    assert.equal(retained.size, 1);
    assert.deepEqual(topicsFor(retained, "a/#"), ["a/b"]);
  });

  test("set() rejects invalid topic names", () => {
    const retained = new RetainedTrie<number>();
    for (const topic of ["", "a/+", "#", "a\0b"]) {
      assert.throws(() => retained.set(topic, 0), TypeError, topic);
    }
    assert.throws(() => retained.set(1 as unknown as string, 0), TypeError);
    assert.equal(retained.size, 0);
    assert.equal(retained.nodeCount, 0);
  });

  test("match() applies the $ rule and # matches the parent level", () => {
    const retained = new RetainedTrie<number>();
    for (const t of ["$SYS", "$SYS/a", "$x/a", "x", "x/$SYS", "/", "x/y/z"]) retained.set(t, 0);
    assert.deepEqual(topicsFor(retained, "#"), ["/", "x", "x/$SYS", "x/y/z"]);
    assert.deepEqual(topicsFor(retained, "+/a"), []);
    assert.deepEqual(topicsFor(retained, "+/#"), ["/", "x", "x/$SYS", "x/y/z"]);
    assert.deepEqual(topicsFor(retained, "+"), ["x"]);
    assert.deepEqual(topicsFor(retained, "$SYS/#"), ["$SYS", "$SYS/a"]);
    assert.deepEqual(topicsFor(retained, "$x/+"), ["$x/a"]);
    assert.deepEqual(topicsFor(retained, "x/+"), ["x/$SYS"]);
    assert.deepEqual(topicsFor(retained, "x/#"), ["x", "x/$SYS", "x/y/z"]);
    assert.deepEqual(topicsFor(retained, "x/y/#"), ["x/y/z"]); // x/y holds no message
    assert.deepEqual(topicsFor(retained, "x/y/z/#"), ["x/y/z"]);
  });

  test("delete() prunes nodes back to zero", () => {
    const retained = new RetainedTrie<number>();
    retained.set("a/b/c", 1);
    retained.set("a/b", 2);
    retained.set("a/d", 3);
    assert.equal(retained.nodeCount, 4);
    assert.equal(retained.delete("a"), false); // an inner node without a message
    assert.equal(retained.delete("a/b"), true);
    assert.equal(retained.nodeCount, 4); // a/b still leads to a/b/c
    assert.deepEqual(topicsFor(retained, "a/+/c"), ["a/b/c"]);
    assert.equal(retained.delete("a/b/c"), true);
    assert.equal(retained.nodeCount, 2);
    assert.equal(retained.delete("a/d"), true);
    assert.equal(retained.nodeCount, 0);
    assert.equal(retained.size, 0);
    assert.deepEqual(topicsFor(retained, "#"), []);
  });

  test("entries() yields every message once", () => {
    const retained = new RetainedTrie<number>();
    const topics = ["a", "a/b", "a/b/c", "$SYS/x", "/", "b//c"];
    topics.forEach((t, i) => retained.set(t, i));
    const all = [...retained.entries()];
    assert.equal(all.length, topics.length);
    assert.deepEqual(new Map(all), new Map(topics.map((t, i) => [t, i])));
    assert.deepEqual(new Map(retained), new Map(all));
    assert.deepEqual([...new RetainedTrie<number>()], []);
  });

  test("match() lets the visitor delete messages and match again", () => {
    const retained = new RetainedTrie<number>();
    for (let i = 0; i < 50; i++) retained.set(`a/${i % 5}/${i}`, i);
    const seen: string[] = [];
    retained.match("a/#", (topic) => {
      seen.push(topic);
      retained.delete(topic);
      assert.equal(topicsFor(retained, topic).length, 0);
    });
    assert.equal(seen.length, 50);
    assert.equal(new Set(seen).size, 50);
    assert.equal(retained.size, 0);
    assert.equal(retained.nodeCount, 0);
  });

  test("match() handles topics with tens of thousands of levels", () => {
    const retained = new RetainedTrie<number>();
    const levels = 30_000;
    const topic = Array.from({ length: levels }, () => "a").join("/");
    retained.set(topic, 1);
    assert.equal(retained.nodeCount, levels);
    assert.deepEqual(topicsFor(retained, "#"), [topic]);
    assert.deepEqual(topicsFor(retained, Array.from({ length: levels }, () => "+").join("/")), [
      topic,
    ]);
    assert.equal(retained.get(topic), 1);
    assert.equal([...retained].length, 1);
    retained.delete(topic);
    assert.equal(retained.nodeCount, 0);
  });

  test("match() agrees with matchTopic() on random topics and filters", () => {
    const random = prng(0xc0ffee);
    const words = ["a", "b", "c", "", "$SYS", "$x", "dd"];
    const retained = new RetainedTrie<number>();
    const model = new Map<string, number>();
    const randomTopic = (): string =>
      Array.from({ length: 1 + Math.floor(random() * 5) }, () => pick(random, words)).join("/") ||
      "a";
    for (let i = 0; i < 4000; i++) {
      const topic = randomTopic();
      if (random() < 0.2) {
        assert.equal(retained.delete(topic), model.delete(topic));
      } else {
        assert.equal(retained.set(topic, i), !model.has(topic));
        model.set(topic, i);
      }
    }
    assert.equal(retained.size, model.size);
    assert.deepEqual(new Map(retained), model);
    let matched = 0;
    for (let i = 0; i < 3000; i++) {
      const n = 1 + Math.floor(random() * 5);
      const levels: string[] = [];
      for (let l = 0; l < n; l++) {
        const r = random();
        if (l === n - 1 && r < 0.15) levels.push("#");
        else if (r < 0.3) levels.push("+");
        else levels.push(pick(random, words));
      }
      const filter = levels.join("/") || "a";
      const want = [...model.keys()].filter((t) => matchTopic(filter, t)).sort();
      matched += want.length;
      assert.deepEqual(topicsFor(retained, filter), want, filter);
    }
    assert.ok(matched > 10_000, `${matched}`);
    for (const topic of model.keys()) assert.equal(retained.delete(topic), true);
    assert.equal(retained.size, 0);
    assert.equal(retained.nodeCount, 0);
  });

  test("match() visits only the matching part of 100,000 retained messages", () => {
    const retained = new RetainedTrie<number>();
    for (let i = 0; i < 100_000; i++) retained.set(`devices/${i % 100}/${i}/state`, i);
    for (let room = 0; room < 5; room++) {
      retained.set(`sensors/room${room}/temp`, room);
      retained.set(`sensors/room${room}/humidity`, room);
    }
    assert.equal(retained.size, 100_010);
    const cost = (filter: string, want: number): number => {
      const before = retained.nodesVisited;
      assert.equal(topicsFor(retained, filter).length, want, filter);
      return retained.nodesVisited - before;
    };
    // root, sensors, 5 rooms, 5 temps
    assert.equal(cost("sensors/+/temp", 5), 12);
    // root, sensors, 5 rooms, 10 leaves
    assert.equal(cost("sensors/#", 10), 17);
    // root, sensors, room3, temp
    assert.equal(cost("sensors/room3/temp", 1), 4);
    // the root and its two children
    assert.equal(cost("+/room1/temp", 1), 5);
    assert.equal(cost("nothing/#", 0), 1);
    // One device of a hundred: root, devices, 42, its 1,000 ids and their state leaves
    assert.equal(cost("devices/42/+/state", 1000), 2003);
  });
});
