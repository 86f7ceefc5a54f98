/**
 * `AclFile` against Debian's mosquitto 2.0.11: each set of ACL lines is loaded by a real
 * mosquitto (`acl_file`, `allow_anonymous true`, no password file, so any user name is
 * accepted), every probe is performed against it with a raw MQTT 5 client, and the answer
 * must equal both the expected one (what mosquitto 2.0.11 was seen to do) and
 * `AclFile.check()`'s. Files mosquitto refuses to start with must make `AclFile.parse()` throw.
 *
 * How an answer is read from mosquitto:
 * - write: PUBLISH QoS 1; PUBACK 0x00 or 0x10 is allowed, 0x87 denied.
 * - subscribe / unsubscribe: a SUBACK / UNSUBACK code below 0x80 is allowed.
 * - read: the probe's client subscribes, a publisher (`user mq-publisher`, added to the file,
 *   unless the set names another) publishes QoS 1 (its PUBACK must be 0x00: a subscription
 *   matched), then the probe's client sends PINGREQ; the read was allowed when the PUBLISH
 *   arrived before the PINGRESP. `retained` publishes before subscribing; `fromBroker` reads
 *   mosquitto's own retained `$SYS/broker/version`.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AclFile, AclFileError, type AclFileErrorKind } from "../../broker/acl_file.ts";
import { nodeAdapter } from "../../socket/node.ts";
import { RawClient } from "../broker/_client.ts";
import { MOSQUITTO, mosquittoMissing } from "./_harness.ts";

const skip = await mosquittoMissing();

interface Probe {
  action: "read" | "write" | "subscribe" | "unsubscribe";
  clientId: string;
  username?: string;
  /** The topic (a filter for subscribe and unsubscribe). */
  topic: string;
  /** read: the filter subscribed to (default `topic`). */
  filter?: string;
  /** read: publish retained before subscribing. */
  retained?: boolean;
  /** read: the message is mosquitto's retained `$SYS/broker/version` (no publisher). */
  fromBroker?: boolean;
  /** What mosquitto 2.0.11 answers. */
  expect: boolean;
}

interface AclSet {
  name: string;
  lines: string[];
  /** Line ending (default "\n"). */
  eol?: string;
  /** User name of the publisher for reads; default: a `user mq-publisher` section is added. */
  publisher?: string;
  probes: Probe[];
}

const PUBLISHER = "mq-publisher";
const PUBLISHER_LINES = [`user ${PUBLISHER}`, "topic write #", "topic write $x/#"];

function w(clientId: string, topic: string, expect: boolean, username?: string): Probe {
  return username === undefined
    ? { action: "write", clientId, topic, expect }
    : { action: "write", clientId, username, topic, expect };
}

function r(clientId: string, topic: string, expect: boolean, more: Partial<Probe> = {}): Probe {
  return { action: "read", clientId, topic, expect, ...more };
}

const SETS: AclSet[] = [
  {
    name: "access kinds, deny over grants, subscriptions never refused, reads per message",
    lines: [
      "topic read r/#",
      "topic write w/#",
      "topic readwrite rw/+",
      "topic deny rw/secret",
    ],
    probes: [
      w("c1", "w/a", true),
      w("c1", "w", true), // "w/#" matches its parent level
      w("c1", "r/a", false),
      w("c1", "rw/x", true),
      w("c1", "rw/x/y", false),
      w("c1", "rw/secret", false),
      w("c1", "elsewhere", false),
      r("c2", "r/a", true),
      r("c2", "w/a", false),
      r("c2", "rw/x", true),
      r("c2", "rw/secret", false, { filter: "rw/+" }),
      r("c2", "r/b", true, { filter: "#" }),
      r("c2", "w/b", false, { filter: "#" }),
      r("c2", "elsewhere", false, { filter: "#" }),
      r("c2", "r/ret", true, { retained: true, filter: "r/+" }),
      r("c2", "w/ret", false, { retained: true, filter: "w/+" }),
      { action: "subscribe", clientId: "c3", topic: "#", expect: true },
      { action: "subscribe", clientId: "c3", topic: "w/a", expect: true },
      { action: "subscribe", clientId: "c3", topic: "rw/secret", expect: true },
      { action: "subscribe", clientId: "c3", topic: "nothing/here", expect: true },
      { action: "subscribe", clientId: "c3", topic: "$share/g/r/#", expect: true },
      { action: "unsubscribe", clientId: "c3", topic: "elsewhere", expect: true },
    ],
  },
  {
    name: "user sections",
    lines: [
      "topic readwrite anon/#",
      "user alice",
      "topic readwrite alice/#",
      "user bob smith",
      "topic write bob/#",
      "user alice",
      "topic read shared/#",
    ],
    probes: [
      w("c1", "anon/x", true),
      w("c1", "anon/x", false, "alice"),
      w("c1", "anon/x", false, "zed"),
      w("c1", "alice/x", true, "alice"),
      w("c1", "alice/x", false),
      w("c1", "bob/x", true, "bob smith"),
      w("c1", "bob/x", false, "bob"),
      w("c1", "anon/x", true, ""), // an empty user name is anonymous
      r("c2", "shared/x", true, { username: "alice" }),
      r("c2", "anon/x", false, { username: "alice" }),
      r("c2", "anon/x", true),
      { action: "subscribe", clientId: "c3", username: "zed", topic: "#", expect: true },
    ],
  },
  {
    name: "patterns and substitution",
    lines: [
      "pattern readwrite clients/%c/#",
      "pattern write users/%u/out",
      "pattern read x%cy/%u%u",
      "pattern deny clients/%c/locked",
      "pattern readwrite fixed",
      "pattern write p/%%c",
      "topic readwrite plain",
    ],
    probes: [
      w("c1", "clients/c1/a", true),
      w("c1", "clients/c1", true),
      w("c1", "clients/c2/a", false),
      w("c1", "clients/c1/locked", false),
      w("c1", "clients/%c/a", false),
      w("c2", "users/alice/out", true, "alice"),
      w("c2", "users/bob/out", false, "alice"),
      w("c2", "users//out", false), // %u never matches an anonymous client
      w("c2", "users/%u/out", false),
      w("c3", "fixed", true),
      w("c3", "fixed", true, "u"),
      w("c/4", "clients/c/4/a", true), // "/" in the client id spans levels
      w("c5", "users/a/b/out", true, "a/b"),
      w("c+6", "fixed", false), // "+" or "#": no pattern applies
      w("c+6", "plain", true),
      w("c7", "fixed", false, "u#"),
      w("c7", "plain", false, "u#"),
      w("c8", "p/%c8", true), // one pass: "%%c" is "%" then the client id
      w("zz", "users/zz/out", false, "%c"), // a substituted value is not rescanned
      r("c9", "xc9y/alicealice", true, { username: "alice" }),
      r("c9", "xc9y/alice", false, { username: "alice" }),
    ],
  },
  {
    name: "user rules before patterns",
    lines: [
      "topic deny a/b",
      "pattern readwrite a/#",
      "pattern deny p/x",
      "user bob",
      "topic readwrite p/#",
    ],
    probes: [
      w("c1", "a/b", false), // the anonymous deny beats the pattern grant
      w("c1", "a/c", true),
      w("c1", "a/b", true, "bob"), // anonymous rules do not apply to bob
      w("c1", "p/x", true, "bob"), // bob's grant wins over the pattern deny
      w("c1", "p/y", true, "bob"),
      w("c1", "p/x", false),
      r("c2", "p/x", true, { username: "bob" }),
      r("c2", "a/b", false),
    ],
  },
  {
    name: "$ topics",
    lines: [
      "topic readwrite #",
      "topic readwrite $SYS/#",
      "topic readwrite $SYSX/#",
      "topic readwrite $share/#",
      "topic readwrite $sharex/#",
      "topic readwrite $x/#",
      "topic readwrite +/y",
    ],
    probes: [
      w("c1", "$SYS/x", false),
      w("c1", "$SYS", false),
      w("c1", "$SYS/broker/connection/c1/state", true),
      w("c1", "$SYS/broker/connection/other/state", true),
      w("c1", "$SYS/broker/connection/c1/state/x", false),
      w("c1", "$SYSX/a", false), // any topic starting "$SYS"
      w("c1", "$share/g/x", false),
      w("c1", "$sharex/a", false),
      w("c1", "$x/a", true),
      w("c1", "a/y", true),
      r("c2", "$x/a", true, { filter: "$x/#" }),
      r("c2", "$SYS/broker/version", true, { fromBroker: true }),
      r("c2", "$SYS/broker/version", true, { fromBroker: true, filter: "$SYS/#" }),
    ],
  },
  {
    name: '"#" and "+" do not reach $ topics',
    lines: ["topic readwrite #", "topic readwrite +/a"],
    probes: [
      w("c1", "$x/a", false),
      w("c1", "a", true),
      w("c1", "b/a", true),
      r("c2", "$x/a", false, { filter: "$x/a" }),
      r("c2", "$SYS/broker/version", false, { fromBroker: true }),
    ],
  },
  {
    name: "an empty file grants nothing",
    lines: [],
    publisher: "nobody",
    probes: [
      w("c1", "a", false),
      w("c1", "a", false, "bob"),
      { action: "subscribe", clientId: "c2", topic: "#", expect: true },
      r("c3", "$SYS/broker/version", false, { fromBroker: true }),
    ],
  },
  {
    name: "a file of comments and blank lines grants nothing",
    lines: ["# nothing", "", "   ", "#topic readwrite #"],
    publisher: "nobody",
    probes: [w("c1", "a", false), r("c3", "$SYS/broker/version", false, { fromBroker: true })],
  },
  {
    name: "a file of user sections grants anonymous clients nothing",
    lines: ["user alice", "topic readwrite #", "topic read $SYS/#"],
    publisher: "alice",
    probes: [
      w("c1", "a", false),
      w("c1", "a", true, "alice"),
      r("c2", "a", false),
      r("c2", "$SYS/broker/version", false, { fromBroker: true }),
      r("c2", "$SYS/broker/version", true, { fromBroker: true, username: "alice" }),
    ],
  },
  {
    name: "spaces, comments and line endings",
    eol: "\r\n",
    lines: [
      "# a comment",
      "   topic write lead",
      "topic write trail   \t",
      "topic write vtab\v\f",
      "topic  write   multi",
      "topic read",
      "topic write has  space",
      "",
      "   ",
      "\t",
      "topic write t/%c",
      "   user   alice",
      "topic write alice",
    ],
    probes: [
      w("c1", "lead", true),
      w("c1", "trail", true),
      w("c1", "vtab", true),
      w("c1", "multi", true),
      w("c1", "read", true), // "topic read" is the topic "read", read and write
      w("c1", "has  space", true),
      w("c1", "has space", false),
      w("c1", "t/%c", true), // no substitution in "topic" lines
      w("c1", "t/c1", false),
      w("c1", "alice", true, "alice"),
    ],
  },
];

/** Files mosquitto refuses to start with, and the kind of error `AclFile.parse()` throws. */
const REFUSED: { lines: string[]; line: number; kind: AclFileErrorKind }[] = [
  { lines: ["\ttopic read a"], line: 1, kind: "unknown-keyword" },
  { lines: ["topic read a", "  # indented comment"], line: 2, kind: "unknown-keyword" },
  { lines: ["topic\tread\ta"], line: 1, kind: "unknown-keyword" },
  { lines: ["subscribe a"], line: 1, kind: "unknown-keyword" },
  { lines: ["Topic read a"], line: 1, kind: "unknown-keyword" },
  { lines: ["topic READ a"], line: 1, kind: "invalid-access" },
  { lines: ["topic a b"], line: 1, kind: "invalid-access" },
  { lines: ["pattern bogus a/%c"], line: 1, kind: "invalid-access" },
  { lines: ["# ok", "", "topic"], line: 3, kind: "empty-topic" },
  { lines: ["pattern   "], line: 1, kind: "empty-topic" },
  { lines: ["user"], line: 1, kind: "missing-username" },
  { lines: ["user  "], line: 1, kind: "missing-username" },
  { lines: ["topic read a/#/b"], line: 1, kind: "invalid-topic" },
  { lines: ["topic read a/+b"], line: 1, kind: "invalid-topic" },
  { lines: ["topic write a # comment"], line: 1, kind: "invalid-topic" },
  { lines: ["pattern read %c#"], line: 1, kind: "invalid-topic" },
  // 65536 UTF-8 bytes; one fewer is accepted.
  { lines: [`topic read ${"é".repeat(32768)}`], line: 1, kind: "invalid-topic" },
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Start mosquitto with `acl` as its acl_file: its port, or the log when it refused to start. */
async function startMosquitto(
  t: TestContext,
  acl: string,
): Promise<{ port: number } | { refused: string }> {
  const dir = mkdtempSync(join(tmpdir(), "mq-acl-"));
  // mosquitto started as root drops to the "mosquitto" user.
  chmodSync(dir, 0o755);
  const aclPath = join(dir, "acl");
  const confPath = join(dir, "mosquitto.conf");
  writeFileSync(aclPath, acl, { mode: 0o644 });
  const port = await freePort();
  writeFileSync(
    confPath,
    [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      `acl_file ${aclPath}`,
      "log_dest stderr",
      "",
    ].join("\n"),
    { mode: 0o644 },
  );
  const child = spawn(MOSQUITTO, ["-c", confPath], { stdio: ["ignore", "ignore", "pipe"] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  let log = "";
  const running = await new Promise<boolean>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mosquitto did not start: ${log}`)), 5000);
    child.stderr!.on("data", (chunk: Uint8Array) => {
      log += new TextDecoder().decode(chunk);
      if (log.includes(" running")) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  return running ? { port } : { refused: log };
}

/** Performs probes against one running mosquitto. */
class Prober {
  readonly #t: TestContext;
  readonly #port: number;
  readonly #publisher: string;
  #count = 0;

  constructor(t: TestContext, port: number, publisher: string) {
    this.#t = t;
    this.#port = port;
    this.#publisher = publisher;
  }

  async #client(clientId: string, username?: string): Promise<RawClient> {
    const socket = await nodeAdapter.connect({ hostname: "127.0.0.1", port: this.#port });
    const client = new RawClient(socket, 5);
    this.#t.after(() => client.destroy());
    const connack = await client.connect(clientId, username === undefined ? {} : { username });
    assert.equal(connack.reasonCode, 0, `CONNACK for ${clientId}`);
    return client;
  }

  async #done(client: RawClient): Promise<void> {
    client.disconnect();
    await client.whenClosed();
  }

  /** What mosquitto answers. */
  async probe(probe: Probe): Promise<boolean> {
    const client = await this.#client(probe.clientId, probe.username);
    try {
      switch (probe.action) {
        case "write": {
          client.publish(probe.topic, "w", { qos: 1, packetId: 1 });
          const { reasonCode = 0 } = await client.next("puback");
          assert.ok([0x00, 0x10, 0x87].includes(reasonCode), `PUBACK ${reasonCode}`);
          return reasonCode !== 0x87;
        }
        case "subscribe": {
          const [code] = await client.subscribe([probe.topic], { qos: 1 });
          return code! < 0x80;
        }
        case "unsubscribe": {
          client.send({ type: "unsubscribe", packetId: 2, filters: [probe.topic] });
          const { reasonCodes } = await client.next("unsuback");
          return reasonCodes[0]! < 0x80;
        }
        case "read":
          return await this.#read(client, probe);
      }
    } finally {
      await this.#done(client);
    }
  }

  async #read(client: RawClient, probe: Probe): Promise<boolean> {
    const filter = probe.filter ?? probe.topic;
    let publisher: RawClient | undefined;
    if (!probe.fromBroker) {
      publisher = await this.#client(`publisher-${++this.#count}`, this.#publisher);
    }
    if (publisher && probe.retained) {
      publisher.publish(probe.topic, "r", { qos: 1, retain: true });
      assert.equal((await publisher.next("puback")).reasonCode ?? 0, 0x10);
    }
    const [code] = await client.subscribe([filter]);
    assert.equal(code, 0, `SUBACK for ${filter}`);
    if (publisher && !probe.retained) {
      publisher.publish(probe.topic, "r", { qos: 1 });
      // 0x00: the subscription matched, so only the ACL decides what arrives.
      assert.equal((await publisher.next("puback")).reasonCode ?? 0, 0x00);
    }
    // mosquitto queued the PUBLISH (if any) before answering the publisher; the PINGRESP
    // answering a PINGREQ sent now comes after it.
    client.send({ type: "pingreq" });
    let received = false;
    for (;;) {
      const packet = await client.next();
      if (packet.type === "pingresp") break;
      assert.equal(packet.type, "publish");
      if (packet.type === "publish" && packet.topic === probe.topic) received = true;
    }
    if (publisher) {
      if (probe.retained) {
        publisher.publish(probe.topic, "", { qos: 1, retain: true });
        await publisher.next("puback");
      }
      await this.#done(publisher);
    }
    return received;
  }
}

function describeProbe(probe: Probe): string {
  const who = probe.username === undefined ? probe.clientId : `${probe.clientId}/${probe.username}`;
  const extra = [
    probe.filter === undefined ? "" : ` via ${probe.filter}`,
    probe.retained ? " retained" : "",
    probe.fromBroker ? " from the broker" : "",
  ].join("");
  return `${who} ${probe.action} ${JSON.stringify(probe.topic)}${extra}`;
}

describe("AclFile against mosquitto 2.0.11", { skip }, () => {
  for (const set of SETS) {
    test(`AclFile.check() agrees with mosquitto: ${set.name}`, { timeout: 30_000 }, async (t) => {
      const lines = set.publisher === undefined ? [...set.lines, ...PUBLISHER_LINES] : set.lines;
      const text = lines.map((line) => line + (set.eol ?? "\n")).join("");
      const acl = AclFile.parse(text, "acl");
      const started = await startMosquitto(t, text);
      assert.ok("port" in started, `mosquitto refused the file: ${JSON.stringify(started)}`);
      const prober = new Prober(t, started.port, set.publisher ?? PUBLISHER);
      for (const probe of set.probes) {
        const name = describeProbe(probe);
        const theirs = await prober.probe(probe);
        assert.equal(theirs, probe.expect, `mosquitto changed: ${name}`);
        const subject = probe.username === undefined
          ? { clientId: probe.clientId }
          : { clientId: probe.clientId, username: probe.username };
        assert.equal(acl.check(probe.action, subject, probe.topic), theirs, `AclFile: ${name}`);
      }
    });
  }

  test(
    "AclFile.parse() throws where mosquitto refuses to start",
    { timeout: 30_000 },
    async (t) => {
      for (const refused of REFUSED) {
        const text = refused.lines.join("\n") + "\n";
        const started = await startMosquitto(t, text);
        assert.ok("refused" in started, `mosquitto started with ${JSON.stringify(text)}`);
        assert.throws(
          () => AclFile.parse(text, "acl"),
          (error) =>
            error instanceof AclFileError && error.file === "acl" && error.line === refused.line &&
            error.kind === refused.kind,
          JSON.stringify(text),
        );
      }
    },
  );
});
