import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { matchTopic } from "../protocol/topic.ts";
import { AclAccess, AclFile, AclFileError, type AclFileErrorKind } from "./acl_file.ts";

const anon = { clientId: "c1" };

function user(username: string, clientId = "c1"): { clientId: string; username: string } {
  return { clientId, username };
}

function acl(...lines: string[]): AclFile {
  return AclFile.parse(lines.join("\n") + "\n", "acl");
}

function parseError(text: string): AclFileError {
  try {
    AclFile.parse(text, "my.acl");
  } catch (error) {
    assert.ok(error instanceof AclFileError);
    return error;
  }
  assert.fail(`parsed ${JSON.stringify(text)}`);
}

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

describe("AclFile.parse()", () => {
  test("AclFile.parse() skips comments and blank lines", () => {
    const file = acl("# topic readwrite #", "", "   ", "\t", "topic write a", "#");
    assert.equal(file.check("write", anon, "a"), true);
    assert.equal(file.check("write", anon, "b"), false);
  });

  test("AclFile.parse() allows spaces before a keyword and trailing white space", () => {
    const file = AclFile.parse("   topic write a  \t\r\n  user  bob \r\ntopic write b\r\n");
    assert.equal(file.check("write", anon, "a"), true);
    assert.equal(file.check("write", anon, "a  "), false);
    assert.equal(file.check("write", user("bob"), "b"), true);
  });

  test("AclFile.parse() takes the rest of the line as the topic, spaces included", () => {
    const file = acl("topic  write   a  b");
    assert.equal(file.check("write", anon, "a  b"), true);
    assert.equal(file.check("write", anon, "a b"), false);
  });

  test("AclFile.parse() reads a lone access word as the topic, read and write", () => {
    const file = acl("topic read", "pattern deny");
    assert.equal(file.check("write", anon, "read"), true);
    assert.equal(file.check("read", anon, "read"), true);
    assert.equal(file.check("write", anon, "deny"), true);
  });

  test("AclFile.parse() takes the rest of a user line as the user name", () => {
    const file = acl("user bob smith", "topic write b");
    assert.equal(file.check("write", user("bob smith"), "b"), true);
    assert.equal(file.check("write", user("bob"), "b"), false);
  });

  test("AclFile.parse() adds up repeated user sections", () => {
    const file = acl(
      "user bob",
      "topic write b",
      "user al",
      "topic write a",
      "user bob",
      "topic read c",
    );
    assert.equal(file.check("write", user("bob"), "b"), true);
    assert.equal(file.check("read", user("bob"), "c"), true);
    assert.equal(file.check("write", user("bob"), "a"), false);
    assert.equal(file.check("write", user("al"), "a"), true);
  });

  test("AclFile.parse() names the file and the 1-based line of an error", () => {
    const error = parseError("# ok\n\ntopic read a\r\nbogus b\n");
    assert.equal(error.file, "my.acl");
    assert.equal(error.line, 4);
    assert.equal(error.kind, "unknown-keyword");
    assert.equal(error.name, "AclFileError");
    assert.ok(error instanceof Error);
  });

  test("AclFile.parse() names the file acl_file by default", () => {
    assert.throws(
      () => AclFile.parse("nope"),
      (e) => e instanceof AclFileError && e.file === "acl_file",
    );
  });

  const refused: [string, AclFileErrorKind][] = [
    ["\ttopic read a", "unknown-keyword"], // tabs do not separate words
    ["topic\tread\ta", "unknown-keyword"],
    ["  # indented comment", "unknown-keyword"], // "#" only in the first column
    ["Topic read a", "unknown-keyword"],
    ["subscribe a", "unknown-keyword"],
    ["topic READ a", "invalid-access"],
    ["topic a b", "invalid-access"],
    ["pattern readonly a/%c", "invalid-access"],
    ["topic", "empty-topic"],
    ["pattern   \t", "empty-topic"],
    ["user", "missing-username"],
    ["user   ", "missing-username"],
    ["topic read a/#/b", "invalid-topic"],
    ["topic read a#", "invalid-topic"],
    ["topic read a/+b", "invalid-topic"],
    ["topic read +a", "invalid-topic"],
    ["topic write a # comment", "invalid-topic"],
    ["pattern read %c#", "invalid-topic"],
    [`topic read ${"a".repeat(65536)}`, "invalid-topic"],
    [`topic read ${"é".repeat(32768)}`, "invalid-topic"], // 65536 bytes
  ];
  for (const [line, kind] of refused) {
    test(`AclFile.parse() refuses ${JSON.stringify(line.slice(0, 30))} (${kind})`, () => {
      const error = parseError(`topic read ok\n${line}\n`);
      assert.equal(error.line, 2);
      assert.equal(error.kind, kind);
    });
  }

  test("AclFile.parse() accepts valid filters", () => {
    const file = acl(
      "topic read +",
      "topic read a//b",
      "topic read /",
      "topic read +/+/#",
      "topic read #",
    );
    assert.equal(file.check("read", anon, "x"), true);
  });

  test("AclFile.parse() accepts a topic of 65535 UTF-8 bytes", () => {
    const topic = "é".repeat(32767) + "a";
    assert.equal(AclFile.parse(`topic read ${topic}`).check("read", anon, topic), true);
  });
});

describe("AclFile.check()", () => {
  test("AclFile.check() gives read, write and readwrite what they name", () => {
    const file = acl("topic read r", "topic write w", "topic readwrite rw", "topic rw2");
    const cases: [string, boolean, boolean][] = [
      ["r", true, false],
      ["w", false, true],
      ["rw", true, true],
      ["rw2", true, true],
      ["other", false, false],
    ];
    for (const [topic, read, write] of cases) {
      assert.equal(file.check("read", anon, topic), read, `read ${topic}`);
      assert.equal(file.check("write", anon, topic), write, `write ${topic}`);
    }
  });

  test("AclFile.check() lets a deny win over grants, in any order", () => {
    const file = acl("topic readwrite a/#", "topic deny a/secret/#", "topic readwrite a/secret/x");
    assert.equal(file.check("read", anon, "a/b"), true);
    assert.equal(file.check("read", anon, "a/secret"), false);
    assert.equal(file.check("write", anon, "a/secret/x"), false);
  });

  test("AclFile.check() checks a client's own rules before patterns", () => {
    const file = acl(
      "topic deny a/b",
      "pattern readwrite a/#",
      "pattern deny p/x",
      "pattern readwrite p/#",
      "user bob",
      "topic readwrite p/#",
    );
    assert.equal(file.check("write", anon, "a/b"), false); // own deny beats a pattern grant
    assert.equal(file.check("write", anon, "a/c"), true);
    assert.equal(file.check("write", user("bob"), "a/b"), true); // the anonymous deny is not bob's
    assert.equal(file.check("write", user("bob"), "p/x"), true); // own grant beats a pattern deny
    assert.equal(file.check("write", anon, "p/x"), false); // pattern deny beats pattern grant
    assert.equal(file.check("write", anon, "p/y"), true);
  });

  test("AclFile.check() keeps anonymous and user rules apart", () => {
    const file = acl("topic readwrite anon", "user alice", "topic readwrite alice");
    assert.equal(file.check("write", anon, "anon"), true);
    assert.equal(file.check("write", anon, "alice"), false);
    assert.equal(file.check("write", user("alice"), "anon"), false);
    assert.equal(file.check("write", user("alice"), "alice"), true);
    assert.equal(file.check("write", user("zed"), "anon"), false); // no section: no rules
  });

  test("AclFile.check() treats an empty user name as anonymous", () => {
    const file = acl("topic readwrite anon", "pattern write u/%u");
    assert.equal(file.check("write", user(""), "anon"), true);
    assert.equal(file.check("write", user(""), "u/"), false);
    assert.equal(file.check("write", { clientId: "c", username: undefined }, "anon"), true);
  });

  test("AclFile.check() grants nothing with an empty or user-only file", () => {
    for (const file of [acl(), acl("# only comments"), acl("user alice", "topic readwrite #")]) {
      assert.equal(file.check("read", anon, "a"), false);
      assert.equal(file.check("write", anon, "a"), false);
      assert.equal(file.check("write", user("bob"), "a"), false);
      assert.equal(file.check("subscribe", anon, "#"), true);
    }
  });

  test("AclFile.check() never refuses a subscribe or unsubscribe, wildcards or not", () => {
    const file = acl("topic read a/+", "topic deny a/b", "user bob");
    for (const access of [AclAccess.Subscribe, AclAccess.Unsubscribe]) {
      for (const filter of ["a/#", "a/+", "a/b", "#", "x", "$SYS/#", "$share/g/a/#"]) {
        assert.equal(file.check(access, anon, filter), true, `${access} ${filter}`);
        assert.equal(file.check(access, user("bob"), filter), true, `${access} ${filter}`);
      }
    }
  });

  test("AclFile.check() decides reads per delivered topic, whatever the subscription", () => {
    // A subscriber to "#" receives only what it may read.
    const file = acl("topic read a/#", "topic deny a/b", "pattern read own/%c");
    const delivered = ["a", "a/x", "a/b", "a/b/c", "b", "own/c1", "own/c2"];
    const readable = delivered.filter((topic) => file.check("read", anon, topic));
    assert.deepEqual(readable, ["a", "a/x", "a/b/c", "own/c1"]);
  });

  test("AclFile.check() matches MQTT wildcards", () => {
    const file = acl("topic write s/+/t", "topic write h/#", "topic write +", "topic write e//+");
    const cases: [string, boolean][] = [
      ["s/x/t", true],
      ["s//t", true],
      ["s/x/y/t", false],
      ["s/x", false],
      ["h", true],
      ["h/", true],
      ["h/a/b", true],
      ["hh", true], // "+"
      ["x/y", false],
      ["e//", true],
      ["e//z", true],
      ["e/z/z", false],
    ];
    for (const [topic, expected] of cases) {
      assert.equal(file.check("write", anon, topic), expected, topic);
    }
  });

  test("AclFile.check() keeps $ topics from leading wildcards", () => {
    const file = acl("topic readwrite #", "topic readwrite +/x", "topic readwrite $x/#");
    assert.equal(file.check("read", anon, "$y/a"), false);
    assert.equal(file.check("read", anon, "$y/x"), false);
    assert.equal(file.check("read", anon, "$x/a"), true);
    assert.equal(file.check("read", anon, "a/x"), true);
  });

  test("AclFile.check() refuses writes to $SYS except bridge connection state", () => {
    const file = acl("topic readwrite $SYS/#", "topic readwrite $SYSX/#", "topic readwrite $SYS");
    assert.equal(file.check("read", anon, "$SYS/broker/uptime"), true);
    assert.equal(file.check("write", anon, "$SYS/broker/uptime"), false);
    assert.equal(file.check("write", anon, "$SYS"), false);
    assert.equal(file.check("write", anon, "$SYSX/a"), false);
    assert.equal(file.check("read", anon, "$SYSX/a"), true);
    assert.equal(file.check("write", anon, "$SYS/broker/connection/c1/state"), true);
    assert.equal(file.check("write", anon, "$SYS/broker/connection/c1/state/x"), false);
    // The exception still needs a grant.
    assert.equal(
      acl("topic read $SYS/#").check("write", anon, "$SYS/broker/connection/c/state"),
      false,
    );
  });

  test("AclFile.check() refuses reads and writes of topics starting $share", () => {
    const file = acl("topic readwrite $share/#", "topic readwrite $sharex/#");
    assert.equal(file.check("write", anon, "$share/g/a"), false);
    assert.equal(file.check("read", anon, "$share/g/a"), false);
    assert.equal(file.check("write", anon, "$sharex/a"), false);
  });

  test("AclFile.check() throws TypeError on an unknown access", () => {
    const file = acl("topic readwrite #");
    assert.throws(() => file.check("publish" as AclAccess, anon, "a"), TypeError);
  });
});

describe("AclFile.check() patterns", () => {
  test("AclFile.check() substitutes %c and %u", () => {
    const file = acl("pattern readwrite clients/%c/#", "pattern write users/%u/out");
    assert.equal(file.check("write", anon, "clients/c1/x"), true);
    assert.equal(file.check("write", anon, "clients/c1"), true);
    assert.equal(file.check("write", anon, "clients/c2/x"), false);
    assert.equal(file.check("write", anon, "clients/%c/x"), false);
    assert.equal(file.check("write", user("alice"), "users/alice/out"), true);
    assert.equal(file.check("write", user("alice"), "users/bob/out"), false);
    assert.equal(file.check("read", user("alice"), "users/alice/out"), false);
  });

  test("AclFile.check() applies patterns to every client, in and out of user sections", () => {
    const file = acl("user alice", "pattern write all/%c", "user bob", "topic write b");
    assert.equal(file.check("write", anon, "all/c1"), true);
    assert.equal(file.check("write", user("bob", "c2"), "all/c2"), true);
    assert.equal(file.check("write", user("zed", "c3"), "all/c3"), true);
  });

  test("AclFile.check() substitutes anywhere in a level, in one pass", () => {
    const file = acl("pattern write x%cy/%u%u", "pattern write p/%%c", "pattern write q/%x/%c%");
    assert.equal(file.check("write", user("al", "c1"), "xc1y/alal"), true);
    assert.equal(file.check("write", user("al", "c1"), "xc1y/al"), false);
    assert.equal(file.check("write", anon, "p/%c1"), true);
    assert.equal(file.check("write", anon, "q/%x/c1%"), true);
    // A substituted value is not scanned again.
    assert.equal(acl("pattern write u/%u").check("write", user("%c", "zz"), "u/zz"), false);
    assert.equal(acl("pattern write u/%u").check("write", user("%c", "zz"), "u/%c"), true);
  });

  test("AclFile.check() never matches a %u pattern for an anonymous client", () => {
    const file = acl("pattern write u/%u", "pattern write c/%c", "pattern deny c/%u");
    assert.equal(file.check("write", anon, "u/"), false);
    assert.equal(file.check("write", anon, "u/%u"), false);
    assert.equal(file.check("write", anon, "c/c1"), true);
    assert.equal(file.check("write", { clientId: "" }, "c/"), true);
  });

  test("AclFile.check() lets a client id or user name with / span levels", () => {
    const file = acl("pattern write c/%c/x", "pattern write u/%u");
    assert.equal(file.check("write", { clientId: "a/b" }, "c/a/b/x"), true);
    assert.equal(file.check("write", { clientId: "a/" }, "c/a//x"), true);
    assert.equal(file.check("write", user("a/b"), "u/a/b"), true);
    assert.equal(file.check("write", user("a/b"), "u/a"), false);
  });

  test("AclFile.check() applies no pattern to a client id or user name with + or #", () => {
    const file = acl("topic readwrite plain", "pattern readwrite fixed", "pattern readwrite c/%c");
    for (const subject of [{ clientId: "c+" }, { clientId: "#" }, user("u#"), user("+", "c")]) {
      assert.equal(file.check("write", subject, "fixed"), false, JSON.stringify(subject));
      assert.equal(file.check("read", subject, "c/c+"), false, JSON.stringify(subject));
    }
    assert.equal(file.check("write", { clientId: "c+" }, "plain"), true);
  });

  test("AclFile.check() with a literal rule agrees with matchTopic() (seeded fuzz)", () => {
    const random = prng(0xac1);
    const words = ["a", "b", "", "$x", "ab"];
    const filterLevels = [...words, "+", "+", "#"];
    for (let i = 0; i < 3000; i++) {
      const n = 1 + Math.floor(random() * 4);
      const levels: string[] = [];
      for (let l = 0; l < n; l++) {
        const level = pick(random, filterLevels);
        levels.push(level === "#" && l < n - 1 ? "+" : level);
      }
      const filter = levels.join("/");
      const topicLevels = Array.from(
        { length: 1 + Math.floor(random() * 4) },
        () => pick(random, words),
      );
      const topic = topicLevels.join("/");
      if (topic === "") continue;
      const file = AclFile.parse(`topic readwrite ${filter}`);
      assert.equal(
        file.check("read", anon, topic),
        matchTopic(filter, topic),
        `${filter} ${topic}`,
      );
    }
  });

  test("AclFile.check() with a pattern agrees with matchTopic() on the substituted filter", () => {
    const random = prng(0x5eed);
    const values = ["a", "b/c", "", "a/", "/", "%c", "$x"];
    const templates = ["%c", "%u", "x%c", "%c%u", "a", "+", "#", ""];
    for (let i = 0; i < 3000; i++) {
      const clientId = pick(random, values);
      const username = pick(random, values);
      const n = 1 + Math.floor(random() * 3);
      const levels: string[] = [];
      for (let l = 0; l < n; l++) {
        const level = pick(random, templates);
        levels.push(level === "#" && l < n - 1 ? "+" : level);
      }
      const pattern = levels.join("/");
      const expanded = pattern.replace(/%[cu]/g, (m) => m === "%c" ? clientId : username);
      const topic = Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(random, values))
        .join("/");
      if (topic === "") continue;
      const file = AclFile.parse(`pattern read ${pattern}`);
      const subject = username === "" ? { clientId } : { clientId, username };
      const expected = username === "" && pattern.includes("%u")
        ? false
        : matchTopic(expanded, topic);
      assert.equal(file.check("read", subject, topic), expected, `${pattern} ${topic} ${expanded}`);
    }
  });
});
