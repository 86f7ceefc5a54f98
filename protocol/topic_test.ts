import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  isValidTopicFilter,
  isValidTopicName,
  matchTopic,
  parseSharedSubscription,
  TopicFault,
  topicFaultSpec,
  topicFilterFault,
  topicLevels,
  topicNameFault,
  validateTopicFilter,
  validateTopicName,
} from "./topic.ts";

/** mulberry32: a tiny seeded PRNG, so every run sees the same inputs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The obvious split-based matcher, to cross-check the index-scanning one. */
function referenceMatch(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  if (topic.startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const F = TopicFault;

describe("topic", () => {
  test("topicNameFault() accepts the spec's valid names (§4.7.3)", () => {
    const valid = [
      "sport/tennis/player1",
      "sport/tennis/player1/ranking",
      "/finance",
      "finance",
      "/",
      "//",
      "sport/",
      "ACCOUNTS",
      "Accounts payable",
      "$SYS/monitor/Clients",
      "$share/group/x", // an ordinary name: $share is special only in filters
      "é/€/😀",
      "\ufeffbom",
    ];
    for (const name of valid) {
      assert.equal(topicNameFault(name), undefined, name);
      assert.equal(isValidTopicName(name), true, name);
      validateTopicName(name);
    }
  });

  test("topicNameFault() reports each rule broken", () => {
    const cases: Array<[string, TopicFault]> = [
      ["", F.Empty], // [MQTT-4.7.3-1]
      ["a\u0000b", F.NullCharacter], // [MQTT-4.7.3-2]
      ["\u0000", F.NullCharacter],
      ["a\ud800", F.LoneSurrogate], // [MQTT-1.5.4-1]
      ["\udc00/a", F.LoneSurrogate],
      ["+", F.WildcardInName], // [MQTT-4.7.0-1]
      ["#", F.WildcardInName],
      ["sport/+", F.WildcardInName],
      ["sport/#", F.WildcardInName],
      ["sport+", F.WildcardInName],
      ["a#b", F.WildcardInName],
      ["a".repeat(65_536), F.TooLong], // [MQTT-4.7.3-3]
      ["€".repeat(21_846), F.TooLong],
      ["😀".repeat(16_384), F.TooLong],
    ];
    for (const [name, fault] of cases) {
      const label = JSON.stringify(name.slice(0, 20));
      assert.equal(topicNameFault(name), fault, label);
      assert.equal(isValidTopicName(name), false, label);
    }
    assert.equal(topicNameFault("a".repeat(65_535)), undefined);
    assert.equal(topicNameFault("€".repeat(21_845)), undefined);
    assert.equal(topicNameFault("😀".repeat(16_383) + "abc"), undefined);
  });

  test("topicNameFault() applies maxLength and maxLevels", () => {
    assert.equal(topicNameFault("abcd", { maxLength: 4 }), undefined);
    assert.equal(topicNameFault("abcde", { maxLength: 4 }), F.TooLong);
    assert.equal(topicNameFault("aé", { maxLength: 2 }), F.TooLong);
    assert.equal(topicNameFault("a".repeat(65_536), { maxLength: 100_000 }), F.TooLong);
    assert.equal(topicNameFault("a/b/c", { maxLevels: 3 }), undefined);
    assert.equal(topicNameFault("a/b/c/", { maxLevels: 3 }), F.TooManyLevels);
    assert.equal(topicNameFault("/", { maxLevels: 1 }), F.TooManyLevels);
  });

  test("validateTopicName() throws TypeError for rule breaks and RangeError for limits", () => {
    for (const name of ["", "a\u0000", "a\ud800", "sport/+", "#"]) {
      assert.throws(() => validateTopicName(name), TypeError, JSON.stringify(name));
    }
    assert.throws(() => validateTopicName("a".repeat(65_536)), RangeError);
    assert.throws(() => validateTopicName("a/b", { maxLevels: 1 }), RangeError);
    assert.throws(() => validateTopicName("abc", { maxLength: 2 }), RangeError);
    for (const value of [undefined, null, 1, {}]) {
      assert.throws(() => validateTopicName(value as unknown as string), TypeError);
      assert.equal(isValidTopicName(value as unknown as string), false);
    }
  });

  test("topicFilterFault() accepts the spec's valid filters (§4.7.1, §4.8.2)", () => {
    const valid = [
      "sport/tennis/player1/#",
      "sport/#",
      "#",
      "sport/tennis/#",
      "+",
      "+/tennis/#",
      "sport/+/player1",
      "sport/tennis/+",
      "sport/+",
      "/+",
      "+/+",
      "$SYS/#",
      "$SYS/monitor/+",
      "+/monitor/Clients",
      "/",
      "+/",
      "/#",
      "//#",
      "+/+/+",
      "finance",
      "$share/consumer1/sport/tennis/+",
      "$share/consumer2/sport/tennis/+",
      "$share/consumer1//finance",
      "$share/g/#",
      "$share/g/+",
      "$share/g/$SYS/#",
      "$share/é€/x",
      "$share", // no "/" after it: an ordinary filter
      "$shared/x",
      "$SHARE/+/x",
      "a/$share/+",
    ];
    for (const filter of valid) {
      assert.equal(topicFilterFault(filter), undefined, filter);
      assert.equal(isValidTopicFilter(filter), true, filter);
      validateTopicFilter(filter);
    }
  });

  test("topicFilterFault() reports each rule broken", () => {
    const cases: Array<[string, TopicFault]> = [
      ["", F.Empty], // [MQTT-4.7.3-1]
      ["a/\u0000", F.NullCharacter], // [MQTT-4.7.3-2]
      ["a/\udbff", F.LoneSurrogate], // [MQTT-1.5.4-1]
      ["sport/tennis#", F.MisplacedMultiLevelWildcard], // [MQTT-4.7.1-1]
      ["sport/tennis/#/ranking", F.MisplacedMultiLevelWildcard],
      ["#/", F.MisplacedMultiLevelWildcard],
      ["##", F.MisplacedMultiLevelWildcard],
      ["#a", F.MisplacedMultiLevelWildcard],
      ["a#", F.MisplacedMultiLevelWildcard],
      ["+#", F.MisplacedSingleLevelWildcard],
      ["/+#", F.MisplacedSingleLevelWildcard],
      ["sport+", F.MisplacedSingleLevelWildcard], // [MQTT-4.7.1-2]
      ["+sport", F.MisplacedSingleLevelWildcard],
      ["sport/+a/x", F.MisplacedSingleLevelWildcard],
      ["sport/a+/x", F.MisplacedSingleLevelWildcard],
      ["++", F.MisplacedSingleLevelWildcard],
      ["$share//x", F.EmptyShareName], // [MQTT-4.8.2-1]
      ["$share/", F.EmptyShareName],
      ["$share/a+b/x", F.InvalidShareName], // [MQTT-4.8.2-2]
      ["$share/+/x", F.InvalidShareName],
      ["$share/#/x", F.InvalidShareName],
      ["$share/#", F.InvalidShareName],
      ["$share/group", F.MissingSharedFilter], // [MQTT-4.8.2-2]
      ["$share/group/", F.MissingSharedFilter],
      ["$share/g/a#", F.MisplacedMultiLevelWildcard],
      ["$share/g/a+", F.MisplacedSingleLevelWildcard],
      ["$share/g\u0000/a", F.NullCharacter],
      ["a".repeat(65_536), F.TooLong], // [MQTT-4.7.3-3]
      [`$share/g/${"é".repeat(32_764)}`, F.TooLong],
    ];
    for (const [filter, fault] of cases) {
      const label = JSON.stringify(filter.slice(0, 30));
      assert.equal(topicFilterFault(filter), fault, label);
      assert.equal(isValidTopicFilter(filter), false, label);
    }
  });

  test("topicFilterFault() counts levels after the share name", () => {
    assert.equal(topicFilterFault("a/+/#", { maxLevels: 3 }), undefined);
    assert.equal(topicFilterFault("a/+/#/", { maxLevels: 3 }), F.MisplacedMultiLevelWildcard);
    assert.equal(topicFilterFault("a/+/b/#", { maxLevels: 3 }), F.TooManyLevels);
    assert.equal(topicFilterFault("$share/g/a/+/#", { maxLevels: 3 }), undefined);
    assert.equal(topicFilterFault("$share/g/a/b/c/d", { maxLevels: 3 }), F.TooManyLevels);
    assert.equal(topicFilterFault("$share/g/a", { maxLength: 10 }), undefined);
    assert.equal(topicFilterFault("$share/g/ab", { maxLength: 10 }), F.TooLong);
  });

  test("validateTopicFilter() throws TypeError for rule breaks and RangeError for limits", () => {
    for (const filter of ["", "sport+", "a/#/b", "$share//x", "$share/a+/x", "$share/g"]) {
      assert.throws(() => validateTopicFilter(filter), TypeError, filter);
    }
    assert.throws(() => validateTopicFilter("a".repeat(65_536)), RangeError);
    assert.throws(() => validateTopicFilter("a/b/#", { maxLevels: 2 }), RangeError);
    assert.throws(() => validateTopicFilter(42 as unknown as string), TypeError);
    assert.equal(isValidTopicFilter(42 as unknown as string), false);
  });

  test("topicFaultSpec() maps every fault to its v5 id", () => {
    const want: Record<TopicFault, string | undefined> = {
      "empty": "MQTT-4.7.3-1",
      "null-character": "MQTT-4.7.3-2",
      "lone-surrogate": "MQTT-1.5.4-1",
      "too-long": "MQTT-4.7.3-3",
      "too-many-levels": undefined,
      "wildcard-in-name": "MQTT-4.7.0-1",
      "misplaced-multi-level-wildcard": "MQTT-4.7.1-1",
      "misplaced-single-level-wildcard": "MQTT-4.7.1-2",
      "empty-share-name": "MQTT-4.8.2-1",
      "invalid-share-name": "MQTT-4.8.2-2",
      "missing-shared-filter": "MQTT-4.8.2-2",
    };
    for (const fault of Object.values(TopicFault)) {
      assert.equal(topicFaultSpec(fault), want[fault], fault);
    }
  });

  test("parseSharedSubscription() splits $share/{ShareName}/{filter}", () => {
    const cases: Array<[string, { group: string; filter: string } | undefined]> = [
      ["$share/consumer1/sport/tennis/+", { group: "consumer1", filter: "sport/tennis/+" }],
      ["$share/consumer1//finance", { group: "consumer1", filter: "/finance" }],
      ["$share/g/#", { group: "g", filter: "#" }],
      ["$share/g/$share/h/x", { group: "g", filter: "$share/h/x" }],
      ["sport/#", undefined],
      ["$share", undefined],
      ["$SHARE/g/x", undefined],
      ["$SYS/#", undefined],
    ];
    for (const [input, want] of cases) {
      assert.deepEqual(parseSharedSubscription(input), want, input);
    }
  });

  test("parseSharedSubscription() throws TypeError for a malformed share", () => {
    for (const filter of ["$share/", "$share//x", "$share/a+/x", "$share/g", "$share/g/"]) {
      assert.throws(() => parseSharedSubscription(filter), TypeError, filter);
    }
  });

  test("matchTopic() follows the spec's examples (§4.7.1, §4.7.2)", () => {
    const cases: Array<[filter: string, topic: string, match: boolean]> = [
      // 4.7.1.2
      ["sport/tennis/player1/#", "sport/tennis/player1", true],
      ["sport/tennis/player1/#", "sport/tennis/player1/ranking", true],
      ["sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true],
      ["sport/tennis/player1/#", "sport/tennis/player2", false],
      ["sport/tennis/player1/#", "sport/tennis", false],
      ["sport/#", "sport", true],
      ["sport/#", "sport/", true],
      ["sport/#", "sports", false],
      ["sport/#", "spor", false],
      ["#", "sport/tennis/player1", true],
      ["#", "/", true],
      ["#", "a", true],
      ["/#", "/", true],
      ["/#", "/a/b", true],
      ["/#", "a", false],
      // 4.7.1.3
      ["sport/tennis/+", "sport/tennis/player1", true],
      ["sport/tennis/+", "sport/tennis/player2", true],
      ["sport/tennis/+", "sport/tennis/player1/ranking", false],
      ["sport/+", "sport", false],
      ["sport/+", "sport/", true],
      ["+", "finance", true],
      ["+", "/finance", false],
      ["+/+", "/finance", true],
      ["/+", "/finance", true],
      ["+/tennis/#", "sport/tennis/player1", true],
      ["+/tennis/#", "sport/tennis", true],
      ["+/tennis/#", "sport/golf", false],
      ["sport/+/player1", "sport/tennis/player1", true],
      ["sport/+/player1", "sport//player1", true],
      ["sport/+/player1", "sport/player1", false],
      ["+/+/#", "a", false],
      ["+/+/#", "a/", true],
      // 4.7.2 [MQTT-4.7.2-1]
      ["#", "$SYS/monitor/Clients", false],
      ["#", "$SYS", false],
      ["+/monitor/Clients", "$SYS/monitor/Clients", false],
      ["+", "$SYS", false],
      ["$SYS/#", "$SYS/monitor/Clients", true],
      ["$SYS/#", "$SYS", true],
      ["$SYS/monitor/+", "$SYS/monitor/Clients", true],
      ["a/#", "a/$b", true],
      ["a/+", "a/$b", true],
      // 4.7.3: exact comparison, case and spaces count [MQTT-4.7.3-4]
      ["ACCOUNTS", "Accounts", false],
      ["Accounts payable", "Accounts payable", true],
      ["/finance", "finance", false],
      ["finance", "/finance", false],
      ["finance", "finance/", false],
      ["finance/", "finance", false],
      ["é/€", "é/€", true],
      ["é/+/😀", "é/x/😀", true],
      ["é/+/😀", "é/x/😁", false],
      ["a/b", "a/bc", false],
      ["a/bc", "a/b", false],
      ["a/b/c", "a/b", false],
      ["a/b", "a/b/c", false],
    ];
    for (const [filter, topic, want] of cases) {
      assert.equal(matchTopic(filter, topic), want, `${filter} vs ${topic}`);
      assert.equal(referenceMatch(filter, topic), want, `reference: ${filter} vs ${topic}`);
    }
  });

  test("matchTopic() agrees with a split-based reference on seeded random filters and topics", () => {
    const next = prng(0xc0ffee);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const words = ["a", "b", "ab", "", "$SYS", "$", "é", "😀", "a b"];
    const makeTopic = (): string => {
      const levels: string[] = [];
      const n = 1 + Math.floor(next() * 5);
      for (let i = 0; i < n; i++) levels.push(pick(words));
      // A single empty level would be the empty string, which is no topic [MQTT-4.7.3-1]
      return levels.join("/") || "/";
    };
    const makeFilter = (): string => {
      const levels: string[] = [];
      const n = 1 + Math.floor(next() * 5);
      for (let i = 0; i < n; i++) {
        const r = next();
        if (r < 0.1 && i === n - 1) levels.push("#");
        else if (r < 0.35) levels.push("+");
        else levels.push(pick(words));
      }
      return levels.join("/") || "/";
    };
    let matches = 0;
    for (let round = 0; round < 200_000; round++) {
      const filter = makeFilter();
      const topic = makeTopic();
      assert.equal(isValidTopicFilter(filter), true, filter);
      assert.equal(isValidTopicName(topic), true, topic);
      const want = referenceMatch(filter, topic);
      if (matchTopic(filter, topic) !== want) {
        assert.equal(matchTopic(filter, topic), want, `${filter} vs ${topic}`);
      }
      if (want) matches++;
    }
    // The generator must exercise both outcomes, or the cross-check proves little.
    assert.ok(matches > 5_000, `only ${matches} matches`);
  });

  test("matchTopic() matches every topic against the filters derived from it", () => {
    const next = prng(99);
    const words = ["a", "b", "", "$x", "c/d"];
    for (let round = 0; round < 5_000; round++) {
      const levels: string[] = [];
      const n = 1 + Math.floor(next() * 4);
      for (let i = 0; i < n; i++) levels.push(words[Math.floor(next() * words.length)]!);
      const topic = levels.join("/") || "/";
      const parts = topic.split("/");
      // Replace some levels with "+", optionally cut the tail with "#"
      const filterParts = parts.map((p) => (next() < 0.4 ? "+" : p));
      const cut = Math.floor(next() * (filterParts.length + 1));
      const filter = next() < 0.5
        ? filterParts.join("/")
        : [...filterParts.slice(0, cut), "#"].join("/");
      const dollarGuard = topic.startsWith("$") && (filter[0] === "+" || filter[0] === "#");
      assert.equal(matchTopic(filter, topic), !dollarGuard, `${filter} vs ${topic}`);
    }
  });

  test("topicLevels() counts levels, empty ones included", () => {
    const cases: Array<[string, number]> = [
      ["a", 1],
      ["", 1],
      ["/", 2],
      ["//", 3],
      ["sport/tennis/player1", 3],
      ["sport/", 2],
      ["$share/g/a/b", 4],
    ];
    for (const [topic, want] of cases) assert.equal(topicLevels(topic), want, topic);
  });
});
