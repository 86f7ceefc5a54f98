import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { matchTopic, parseSharedSubscription } from "../protocol/topic.ts";
import { type SharedGroup, SubscriptionTrie } from "./subscription_trie.ts";

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

/** Every (client, filter, value) the trie reports for a topic, as sorted strings. */
function matches<T>(trie: SubscriptionTrie<T>, topic: string): string[] {
  const out: string[] = [];
  trie.match(topic, (clientId, value, filter) => out.push(`${clientId} ${filter} ${value}`));
  return out.sort();
}

/** Every share group the trie reports for a topic, as sorted "group filter" strings. */
function sharedMatches<T>(trie: SubscriptionTrie<T>, topic: string): string[] {
  const out: string[] = [];
  trie.matchShared(topic, (group, filter, members) => {
    assert.equal(members.name, group);
    assert.equal(members.filter, filter);
    out.push(`${group} ${filter}`);
  });
  return out.sort();
}

/** [filter, topic, matches] from v5 §4.7.1, §4.7.2 and §4.7.3. */
const SPEC_TABLE: [string, string, boolean][] = [
  ["sport/tennis/player1/#", "sport/tennis/player1", true],
  ["sport/tennis/player1/#", "sport/tennis/player1/ranking", true],
  ["sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true],
  ["sport/tennis/player1/#", "sport/tennis/player2", false],
  ["sport/#", "sport", true],
  ["sport/#", "sport/", true],
  ["sport/#", "sports", false],
  ["#", "sport/tennis/player1", true],
  ["#", "/", true],
  ["sport/tennis/+", "sport/tennis/player1", true],
  ["sport/tennis/+", "sport/tennis/player2", true],
  ["sport/tennis/+", "sport/tennis/player1/ranking", false],
  ["sport/+", "sport", false],
  ["sport/+", "sport/", true],
  ["+/+", "/finance", true],
  ["/+", "/finance", true],
  ["+", "/finance", false],
  ["+", "finance", true],
  ["+/tennis/#", "sport/tennis", true],
  ["+/tennis/#", "sport/tennis/player1", true],
  ["sport/+/player1", "sport/tennis/player1", true],
  ["sport/+/player1", "sport/tennis/player2", false],
  ["#", "$SYS/monitor/Clients", false],
  ["+/monitor/Clients", "$SYS/monitor/Clients", false],
  ["$SYS/#", "$SYS/monitor/Clients", true],
  ["$SYS/monitor/+", "$SYS/monitor/Clients", true],
  ["+/#", "$SYS", false],
  ["ACCOUNTS", "Accounts", false],
  ["Accounts payable", "Accounts payable", true],
  ["/finance", "finance", false],
  ["a/$x", "a/$x", true],
  ["a/+", "a/$x", true],
  ["a/#", "a/$x", true],
];

describe("SubscriptionTrie", () => {
  test("match() follows the spec's examples", () => {
    const trie = new SubscriptionTrie<number>();
    const filters = [...new Set(SPEC_TABLE.map(([f]) => f))];
    for (const filter of filters) trie.add("c", filter, 0);
    const topics = [...new Set(SPEC_TABLE.map(([, t]) => t))];
    const got = new Map<string, Set<string>>();
    for (const topic of topics) {
      const seen = new Set<string>();
      trie.match(topic, (_clientId, _value, filter) => seen.add(filter));
      got.set(topic, seen);
    }
    for (const [filter, topic, expected] of SPEC_TABLE) {
      assert.equal(got.get(topic)!.has(filter), expected, `${filter} vs ${topic}`);
    }
    // And every other pair agrees with matchTopic()
    for (const topic of topics) {
      const want = filters.filter((f) => matchTopic(f, topic)).sort();
      assert.deepEqual([...got.get(topic)!].sort(), want, topic);
    }
  });

  test("match() visits each overlapping (client, filter) pair once", () => {
    const trie = new SubscriptionTrie<string>();
    for (const f of ["sport/#", "sport/+", "sport/tennis", "#", "+/+", "+/#", "sport/tennis/#"]) {
      trie.add("a", f, f);
    }
    trie.add("b", "sport/tennis", "b1");
    trie.add("b", "other", "b2");
    assert.deepEqual(matches(trie, "sport/tennis"), [
      "a # #",
      "a +/# +/#",
      "a +/+ +/+",
      "a sport/# sport/#",
      "a sport/+ sport/+",
      "a sport/tennis sport/tennis",
      "a sport/tennis/# sport/tennis/#",
      "b sport/tennis b1",
    ]);
    assert.deepEqual(matches(trie, "sport"), ["a # #", "a +/# +/#", "a sport/# sport/#"]);
    assert.deepEqual(matches(trie, "nothing/here/at/all"), ["a # #", "a +/# +/#"]);
  });

  test("add() replaces a client's subscription to the same filter", () => {
    const trie = new SubscriptionTrie<{ qos: number }>();
    assert.equal(trie.add("a", "x/+", { qos: 0 }), true);
    assert.equal(trie.add("b", "x/+", { qos: 1 }), true);
    assert.equal(trie.add("a", "x/+", { qos: 2 }), false);
    assert.equal(trie.size, 2);
    assert.equal(trie.clientCount, 2);
    assert.deepEqual(trie.get("a", "x/+"), { qos: 2 });
    const seen: [string, number][] = [];
    trie.match("x/y", (clientId, value) => seen.push([clientId, value.qos]));
    assert.deepEqual(seen.sort(), [["a", 2], ["b", 1]]);
    // Replacing a shared subscription keeps the member's place
    trie.add("a", "$share/g/x", { qos: 0 });
    trie.add("b", "$share/g/x", { qos: 0 });
    assert.equal(trie.add("a", "$share/g/x", { qos: 1 }), false);
    trie.matchShared("x", (_g, _f, group) => {
      assert.deepEqual([...group].map((m) => [m.clientId, m.value.qos]), [["a", 1], ["b", 0]]);
    });
    assert.equal(trie.size, 4);
  });

  test("add() rejects invalid filters and client ids", () => {
    const trie = new SubscriptionTrie<number>();
    for (
      const filter of ["", "sport+", "sport/#/x", "$share/+/x", "$share/g", "$share//x", "a\0b"]
    ) {
      assert.throws(() => trie.add("a", filter, 0), TypeError, filter);
    }
    assert.throws(() => trie.add(1 as unknown as string, "x", 0), TypeError);
    assert.throws(() => trie.add("a", 1 as unknown as string, 0), TypeError);
    assert.equal(trie.size, 0);
    assert.equal(trie.nodeCount, 0);
  });

  test("remove() and removeClient() prune nodes back to zero", () => {
    const trie = new SubscriptionTrie<number>();
    assert.equal(trie.nodeCount, 0);
    trie.add("a", "a/b/c", 0);
    trie.add("b", "a/b/c", 0);
    trie.add("a", "a/+/#", 0);
    trie.add("a", "a/b", 0);
    trie.add("c", "$share/g/a/b/c", 0);
    trie.add("d", "$share/g/a/b/c", 0);
    trie.add("d", "#", 0);
    // a, a/b, a/b/c, a/+, a/+/#, # + shared: a, a/b, a/b/c
    assert.equal(trie.nodeCount, 9);
    assert.equal(trie.remove("a", "nope"), false);
    assert.equal(trie.remove("x", "a/b/c"), false);
    assert.equal(trie.remove("a", "a/b/c"), true);
    assert.equal(trie.nodeCount, 9); // b still holds a/b/c
    assert.deepEqual(matches(trie, "a/b/c"), ["a a/+/# 0", "b a/b/c 0", "d # 0"]);
    assert.equal(trie.remove("b", "a/b/c"), true);
    assert.equal(trie.nodeCount, 8);
    assert.equal(trie.removeClient("a"), 2);
    assert.equal(trie.removeClient("a"), 0);
    assert.equal(trie.nodeCount, 4);
    assert.equal(trie.remove("c", "$share/g/a/b/c"), true);
    assert.equal(trie.nodeCount, 4); // d is still in the group
    assert.equal(trie.removeClient("d"), 2);
    assert.equal(trie.nodeCount, 0);
    assert.equal(trie.size, 0);
    assert.equal(trie.clientCount, 0);
    assert.deepEqual(matches(trie, "a/b/c"), []);
    assert.deepEqual(sharedMatches(trie, "a/b/c"), []);
  });

  test("subscriptionsOf() lists a client's filters with their values", () => {
    const trie = new SubscriptionTrie<number>();
    trie.add("a", "x", 1);
    trie.add("a", "$share/g/y/#", 2);
    trie.add("b", "z", 3);
    trie.add("a", "x", 4);
    assert.deepEqual([...trie.subscriptionsOf("a")], [["x", 4], ["$share/g/y/#", 2]]);
    assert.deepEqual([...trie.subscriptionsOf("nobody")], []);
    assert.equal(trie.has("a", "$share/g/y/#"), true);
    assert.equal(trie.has("a", "y/#"), false);
    assert.equal(trie.get("b", "z"), 3);
  });

  test("match() applies the $ rule [MQTT-4.7.2-1]", () => {
    const trie = new SubscriptionTrie<number>();
    for (const f of ["#", "+/#", "+", "+/uptime", "$SYS/#", "$SYS/+", "$SYS/uptime", "$SYS"]) {
      trie.add("a", f, 0);
    }
    trie.add("s", "$share/g/#", 0);
    trie.add("s", "$share/g/$SYS/#", 0);
    assert.deepEqual(
      matches(trie, "$SYS/uptime").map((m) => m.split(" ")[1]),
      ["$SYS/#", "$SYS/+", "$SYS/uptime"],
    );
    assert.deepEqual(matches(trie, "$SYS").map((m) => m.split(" ")[1]), ["$SYS", "$SYS/#"]);
    assert.deepEqual(sharedMatches(trie, "$SYS/uptime"), ["g $SYS/#"]);
    assert.deepEqual(
      matches(trie, "sys/uptime").map((m) => m.split(" ")[1]),
      ["#", "+/#", "+/uptime"],
    );
    assert.deepEqual(sharedMatches(trie, "sys/uptime"), ["g #"]);
  });

  test("matchShared() reports each matching group once, apart from match()", () => {
    const trie = new SubscriptionTrie<number>();
    trie.add("a", "$share/g1/sport/#", 0);
    trie.add("b", "$share/g1/sport/#", 0);
    trie.add("a", "$share/g1/sport/+", 0);
    trie.add("c", "$share/g2/sport/#", 0);
    trie.add("c", "sport/tennis", 0);
    assert.deepEqual(sharedMatches(trie, "sport/tennis"), [
      "g1 sport/#",
      "g1 sport/+",
      "g2 sport/#",
    ]);
    assert.deepEqual(sharedMatches(trie, "sport"), ["g1 sport/#", "g2 sport/#"]);
    assert.deepEqual(matches(trie, "sport/tennis"), ["c sport/tennis 0"]);
    trie.matchShared("sport", (group, _filter, members) => {
      assert.equal(members.size, group === "g1" ? 2 : 1);
      assert.equal(members.has("c"), group === "g2");
      assert.equal(members.get("c"), group === "g2" ? 0 : undefined);
    });
    // "$share/g/x" is not an ordinary filter: no ordinary subscription sees it
    assert.deepEqual(matches(trie, "$share/g1/sport"), []);
  });

  test("SharedGroup.next() cycles fairly through the members", () => {
    const trie = new SubscriptionTrie<number>();
    const clients = ["a", "b", "c", "d", "e"];
    for (const c of clients) trie.add(c, "$share/g/jobs/+", 0);
    const group = groupOf(trie, "jobs/1");
    const counts = new Map<string, number>();
    const order: string[] = [];
    for (let i = 0; i < 500; i++) {
      const id = group.next()!.clientId;
      counts.set(id, (counts.get(id) ?? 0) + 1);
      if (i < 10) order.push(id);
    }
    assert.deepEqual(order, [...clients, ...clients]);
    for (const c of clients) assert.equal(counts.get(c), 100);
  });

  test("SharedGroup.next() stays in turn when members join and leave", () => {
    const trie = new SubscriptionTrie<number>();
    for (const c of ["a", "b", "c", "d"]) trie.add(c, "$share/g/t", 0);
    const group = groupOf(trie, "t");
    const take = (n: number): string[] => Array.from({ length: n }, () => group.next()!.clientId);
    assert.deepEqual(take(2), ["a", "b"]);
    // The member whose turn it is leaves: the turn passes to the one after it
    trie.remove("c", "$share/g/t");
    assert.deepEqual(take(3), ["d", "a", "b"]);
    // A member that already had its turn leaves: nobody is skipped
    trie.remove("a", "$share/g/t");
    assert.deepEqual(take(2), ["d", "b"]);
    // A newcomer goes last in the rotation
    trie.add("e", "$share/g/t", 0);
    assert.deepEqual(take(6), ["d", "b", "e", "d", "b", "e"]);
    assert.deepEqual([...group].map((m) => m.clientId), ["d", "b", "e"]);
    // A member disconnects and comes back: it rejoins at the end
    trie.removeClient("d");
    trie.add("d", "$share/g/t", 0);
    assert.deepEqual(take(3), ["b", "e", "d"]);
    for (const c of ["b", "e"]) trie.removeClient(c);
    assert.deepEqual(take(2), ["d", "d"]);
    trie.removeClient("d");
    assert.equal(group.size, 0);
    assert.equal(group.next(), undefined);
    assert.equal(trie.nodeCount, 0);
    // Re-created groups are new objects
    trie.add("z", "$share/g/t", 0);
    assert.notEqual(groupOf(trie, "t"), group);
  });

  test("SharedGroup.next() passes over members the caller does not accept", () => {
    const trie = new SubscriptionTrie<number>();
    for (const c of ["a", "b", "c"]) trie.add(c, "$share/g/t", 0);
    const group = groupOf(trie, "t");
    const offline = new Set(["b"]);
    const accept = (clientId: string): boolean => !offline.has(clientId);
    const take = (n: number): (string | undefined)[] =>
      Array.from({ length: n }, () => group.next(accept)?.clientId);
    assert.deepEqual(take(4), ["a", "c", "a", "c"]);
    offline.add("a");
    offline.add("c");
    const asked: string[] = [];
    assert.equal(group.next((id) => (asked.push(id), false)), undefined);
    assert.equal(asked.length, 3);
    assert.deepEqual(take(1), [undefined]);
    offline.clear();
    // "b" kept its place while passed over
    assert.deepEqual(take(3), ["a", "b", "c"]);
  });

  test("match() lets the visitor remove subscriptions and match again", () => {
    const trie = new SubscriptionTrie<number>();
    for (let i = 0; i < 10; i++) trie.add(`c${i}`, i % 2 === 0 ? "a/#" : "a/b", i);
    const seen: string[] = [];
    trie.match("a/b", (clientId) => {
      seen.push(clientId);
      trie.removeClient(clientId);
      assert.equal(matches(trie, "x").length, 0);
    });
    assert.equal(seen.length, 10);
    assert.equal(new Set(seen).size, 10);
    assert.equal(trie.size, 0);
    assert.equal(trie.nodeCount, 0);
  });

  test("match() handles topics with tens of thousands of levels", () => {
    const trie = new SubscriptionTrie<number>();
    const levels = 30_000;
    const topic = Array.from({ length: levels }, () => "a").join("/");
    trie.add("hash", "#", 0);
    trie.add("plus", Array.from({ length: levels }, () => "+").join("/"), 0);
    trie.add("exact", topic, 0);
    trie.add("deep", `${topic}/#`, 0);
    assert.deepEqual(matches(trie, topic).map((m) => m.split(" ")[0]), [
      "deep",
      "exact",
      "hash",
      "plus",
    ]);
    trie.removeClient("plus");
    trie.removeClient("exact");
    trie.removeClient("deep");
    assert.equal(trie.nodeCount, 1);
  });

  test("match() agrees with matchTopic() on random filters and topics", () => {
    const random = prng(0x5eed);
    const words = ["a", "b", "c", "", "$SYS", "$x", "dd"];
    const trie = new SubscriptionTrie<number>();
    /** client -> filter -> value, the model. */
    const model = new Map<string, Map<string, number>>();
    const randomFilter = (): string => {
      const n = 1 + Math.floor(random() * 5);
      const levels: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = random();
        if (i === n - 1 && r < 0.15) levels.push("#");
        else if (r < 0.3) levels.push("+");
        else levels.push(pick(random, words));
      }
      const filter = levels.join("/") || "a";
      return random() < 0.15 ? `$share/g${Math.floor(random() * 3)}/${filter}` : filter;
    };
    for (let i = 0; i < 4000; i++) {
      const clientId = `c${Math.floor(random() * 300)}`;
      const filter = randomFilter();
      let subs = model.get(clientId);
      const isNew = subs?.has(filter) !== true;
      assert.equal(trie.add(clientId, filter, i), isNew);
      if (subs === undefined) model.set(clientId, subs = new Map());
      subs.set(filter, i);
    }
    // Unsubscribe a fifth of them and a few clients
    for (const [clientId, subs] of model) {
      if (random() < 0.05) {
        assert.equal(trie.removeClient(clientId), subs.size);
        model.delete(clientId);
        continue;
      }
      for (const filter of [...subs.keys()]) {
        if (random() < 0.2) {
          assert.equal(trie.remove(clientId, filter), true);
          subs.delete(filter);
        }
      }
      if (subs.size === 0) model.delete(clientId);
    }
    let total = 0;
    for (const subs of model.values()) total += subs.size;
    assert.equal(trie.size, total);
    assert.equal(trie.clientCount, model.size);

    let matched = 0;
    let matchedShared = 0;
    for (let i = 0; i < 3000; i++) {
      const n = 1 + Math.floor(random() * 6);
      const topic = Array.from({ length: n }, () => pick(random, words)).join("/") || "a";
      const want: string[] = [];
      const wantShared = new Set<string>();
      for (const [clientId, subs] of model) {
        for (const [filter, value] of subs) {
          const shared = parseSharedSubscription(filter);
          if (shared === undefined) {
            if (matchTopic(filter, topic)) want.push(`${clientId} ${filter} ${value}`);
          } else if (matchTopic(shared.filter, topic)) {
            wantShared.add(`${shared.group} ${shared.filter}`);
          }
        }
      }
      matched += want.length;
      matchedShared += wantShared.size;
      assert.deepEqual(matches(trie, topic), want.sort(), topic);
      assert.deepEqual(sharedMatches(trie, topic), [...wantShared].sort(), topic);
    }

    // The inputs are dense enough to exercise the walk, not just empty results
    assert.ok(matched > 100_000 && matchedShared > 10_000, `${matched} ${matchedShared}`);
    for (const clientId of [...model.keys()]) trie.removeClient(clientId);
    assert.equal(trie.size, 0);
    assert.equal(trie.clientCount, 0);
    assert.equal(trie.nodeCount, 0);
  });

  test("match() visits only matching branches among 100,000 subscriptions", () => {
    const trie = new SubscriptionTrie<number>();
    for (let i = 0; i < 100_000; i++) {
      trie.add(`noise${i % 1000}`, `devices/${i}/${i % 2 === 0 ? "+" : "state"}/#`, 0);
    }
    trie.add("s1", "sensors/+/temp", 0);
    trie.add("s2", "sensors/#", 0);
    trie.add("s3", "sensors/room1/temp", 0);
    trie.add("s4", "$share/g/sensors/room1/+", 0);
    assert.equal(trie.size, 100_004);
    const before = trie.nodesVisited;
    assert.equal(matches(trie, "sensors/room1/temp").length, 3);
    // root, sensors, sensors/#, sensors/+, sensors/+/temp, sensors/room1, sensors/room1/temp
    assert.equal(trie.nodesVisited - before, 7);
    const mid = trie.nodesVisited;
    assert.deepEqual(sharedMatches(trie, "sensors/room1/temp"), ["g sensors/room1/+"]);
    assert.equal(trie.nodesVisited - mid, 4);
    const last = trie.nodesVisited;
    assert.equal(matches(trie, "devices/77/x/y").length, 0);
    assert.ok(trie.nodesVisited - last <= 5);
  });
});

function groupOf<T>(trie: SubscriptionTrie<T>, topic: string): SharedGroup<T> {
  let found: SharedGroup<T> | undefined;
  trie.matchShared(topic, (_group, _filter, members) => (found = members));
  assert.ok(found !== undefined);
  return found;
}
