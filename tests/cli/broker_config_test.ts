/**
 * `mq broker -c`: YAML and mosquitto.conf files read through the host, errors with file and
 * line and exit 3, warnings for unsupported options, mosquitto 2's anonymous-access rules
 * and password files (in-process over a memory network), plus one subprocess run with a
 * password file made by Debian's mosquitto_passwd.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBroker } from "../../cli/broker.ts";
import { hashPassword } from "../../broker/password_hash.ts";
import type { Broker } from "../../broker/types.ts";
import { MemoryNetwork } from "../../socket/memory.ts";
import type { ProtocolVersion } from "../../protocol/mod.ts";
import { RawClient } from "../broker/_client.ts";
import { type FakeHost, fakeHost, type FakeHostOptions } from "./_fake_host.ts";
import { start, stop } from "../binary/_process.ts";
import { mqCommand } from "./_mq.ts";

const T = { timeout: 15_000 };

// Written by Debian's `mosquitto_passwd -c -b pw alice secret` (2.0.11).
const PASSWD = "alice:$7$101$HIWCq8t8Csb1nG+c$xKNpq5/tdKUWZ6oE7cP945uYAkJ7KXdERof75mLLkMj0U2" +
  "nIxd+WJ7fdzX1BBQ5442EyIFvPfIauIea1rIUWbw==\n";

interface Running {
  host: FakeHost;
  network: MemoryNetwork;
  broker: Broker;
  client(version?: ProtocolVersion, port?: number): Promise<RawClient>;
}

/** Run `mq broker` in-process on a memory network until the test ends. */
async function running(
  t: TestContext,
  args: string[],
  options: FakeHostOptions = {},
): Promise<Running> {
  const host = fakeHost(options);
  const network = new MemoryNetwork();
  let listening!: (broker: Broker) => void;
  const ready = new Promise<Broker>((resolve) => (listening = resolve));
  const run = runBroker(args, { ...host, adapter: network, onListening: (b) => listening(b) });
  const broker = await Promise.race([
    ready,
    run.then((code) => {
      throw new Error(`mq broker exited with ${code}: ${host.err.text}`);
    }),
  ]);
  t.after(async () => {
    host.signal("SIGTERM");
    await run;
  });
  return {
    host,
    network,
    broker,
    async client(version = 4, port = broker.addresses[0]!.port) {
      const socket = await network.connect({ hostname: "127.0.0.1", port });
      const client = new RawClient(socket, version);
      t.after(() => client.destroy());
      return client;
    },
  };
}

/** Run `mq broker` expecting it to fail before listening. */
async function failing(args: string[], options: FakeHostOptions = {}) {
  const host = fakeHost(options);
  const code = await runBroker(args, { ...host, adapter: new MemoryNetwork() });
  return { code, err: host.err.text };
}

const password = (s: string) => new TextEncoder().encode(s);

describe("mq broker -c", () => {
  test("runBroker() refuses anonymous clients once a YAML listener is configured", T, async (t) => {
    const r = await running(t, ["-c", "mq.yaml"], {
      files: { "mq.yaml": "listeners:\n  - port: 1883\n" },
    });
    assert.equal(r.broker.addresses[0]!.port, 1883);
    const c = await r.client(4);
    assert.equal((await c.connect("anon")).reasonCode, 5);
    const v5 = await r.client(5);
    assert.equal((await v5.connect("anon5")).reasonCode, 0x87);
    assert.match(r.host.err.text, /Config loaded from mq\.yaml\./);
    assert.match(r.host.err.text, /Warning: anonymous clients are refused/);
    assert.doesNotMatch(r.host.err.text, /local only mode/);
  });

  test("runBroker() allows anonymous clients with allow_anonymous true", T, async (t) => {
    const r = await running(t, ["-c", "mq.yaml"], {
      files: { "mq.yaml": "listener: 1883\nallow_anonymous: true\n" },
    });
    const c = await r.client();
    assert.equal((await c.connect("anon", { username: "any" })).reasonCode, 0);
    assert.match(r.host.err.text, /Warning: anonymous clients are allowed/);
  });

  test(
    "runBroker() allows anonymous clients on loopback when no listener is configured",
    T,
    async (t) => {
      const r = await running(t, ["-c", "mq.yaml"], { files: { "mq.yaml": "max_qos: 1\n" } });
      assert.deepEqual(r.broker.addresses.map((a) => [a.hostname, a.port]), [["127.0.0.1", 1883]]);
      const c = await r.client();
      assert.equal((await c.connect("anon")).reasonCode, 0);
      assert.match(r.host.err.text, /local only mode/);
      assert.match(r.host.err.text, /Anonymous clients are allowed/);
    },
  );

  test("runBroker() checks a mosquitto password file from a mosquitto.conf", T, async (t) => {
    const r = await running(t, ["-c", "/etc/mosquitto/mosquitto.conf"], {
      files: {
        "/etc/mosquitto/mosquitto.conf": "listener 1883\npassword_file /etc/mosquitto/pw\n",
        "/etc/mosquitto/pw": PASSWD,
      },
    });
    const ok = await r.client(4);
    assert.equal(
      (await ok.connect("a", { username: "alice", password: password("secret") })).reasonCode,
      0,
    );
    const wrong = await r.client(4);
    assert.equal(
      (await wrong.connect("b", { username: "alice", password: password("nope") })).reasonCode,
      5,
    );
    const v5 = await r.client(5);
    assert.equal(
      (await v5.connect("c", { username: "mallory", password: password("x") })).reasonCode,
      0x87,
    );
    const anon = await r.client(4);
    assert.equal((await anon.connect("d")).reasonCode, 5);
  });

  test(
    "runBroker() re-reads the password file on SIGHUP without dropping connections",
    T,
    async (t) => {
      // -v logs every packet: passwords must still never appear.
      const r = await running(t, ["-v", "-c", "m.conf"], {
        files: { "m.conf": "listener 1883\npassword_file pw\n", pw: PASSWD },
      });
      const alice = await r.client(5);
      const login = { username: "alice", password: password("secret") };
      assert.equal((await alice.connect("alice", login)).reasonCode, 0);
      const bobLogin = { username: "bob", password: password("builder") };
      const early = await r.client(5);
      assert.equal((await early.connect("bob1", bobLogin)).reasonCode, 0x87);
      r.host.files.set(
        "pw",
        new TextEncoder().encode(`bob:${await hashPassword("builder", { iterations: 1000 })}\n`),
      );
      r.host.signal("SIGHUP");
      await r.host.err.waitFor("Reloaded password file.");
      assert.match(r.host.err.text, /Reloading config\./);
      const bob = await r.client(5);
      assert.equal((await bob.connect("bob2", bobLogin)).reasonCode, 0);
      const again = await r.client(5);
      assert.equal((await again.connect("alice2", login)).reasonCode, 0x87);
      // alice, connected before the reload, is still served.
      assert.deepEqual(await alice.subscribe(["x"]), [0]);
      // A broken file on SIGHUP keeps the users in force.
      r.host.files.delete("pw");
      r.host.signal("SIGHUP");
      await r.host.err.waitFor("Cannot reload password file");
      const still = await r.client(5);
      assert.equal((await still.connect("bob3", bobLogin)).reasonCode, 0);
      assert.match(r.host.err.text, /Received CONNECT from/);
      assert.doesNotMatch(r.host.err.text, /secret|builder/);
    },
  );

  test("runBroker() applies per_listener_settings to each listener", T, async (t) => {
    const r = await running(t, ["-c", "m.conf"], {
      files: {
        "m.conf": "per_listener_settings true\nlistener 1883\nallow_anonymous true\n" +
          "listener 1884\npassword_file pw\nacl_file acl\n",
        pw: PASSWD,
        acl: "user alice\ntopic write alice/#\n",
      },
    });
    const open = await r.client(5, 1883);
    assert.equal((await open.connect("anon")).reasonCode, 0);
    open.publish("anything", "x", { qos: 1, packetId: 1 });
    assert.equal((await open.next("puback")).reasonCode, 0x10);
    const locked = await r.client(5, 1884);
    assert.equal((await locked.connect("anon2")).reasonCode, 0x87);
    const alice = await r.client(5, 1884);
    const login = { username: "alice", password: password("secret") };
    assert.equal((await alice.connect("alice", login)).reasonCode, 0);
    alice.publish("anything", "x", { qos: 1, packetId: 1 });
    assert.equal((await alice.next("puback")).reasonCode, 0x87);
    alice.publish("alice/x", "x", { qos: 1, packetId: 2 });
    assert.equal((await alice.next("puback")).reasonCode, 0x10);
    assert.match(r.host.err.text, /Listener on port 1884 has its own security settings/);
  });

  test("runBroker() applies an acl_file and re-reads it on SIGHUP", T, async (t) => {
    const r = await running(t, ["-c", "m.conf"], {
      files: {
        "m.conf": "listener 1883\nallow_anonymous true\nacl_file acl\n",
        acl: "topic read public/#\nuser ann\ntopic readwrite ann/#\npattern write public/%u\n",
      },
    });
    const reader = await r.client(5);
    await reader.connect("reader");
    assert.deepEqual(await reader.subscribe(["#"]), [0]); // never refused, like mosquitto
    const ann = await r.client(5);
    await ann.connect("ann", { username: "ann" });
    ann.publish("public/ann", "hello", { qos: 1, packetId: 1 });
    assert.equal((await ann.next("puback")).reasonCode, 0);
    ann.publish("public/other", "no", { qos: 1, packetId: 2 });
    assert.equal((await ann.next("puback")).reasonCode, 0x87);
    ann.publish("ann/private", "secret", { qos: 1, packetId: 3 });
    assert.equal((await ann.next("puback")).reasonCode, 0x10);
    // The anonymous reader got only what it may read.
    const got = await reader.next("publish");
    assert.equal(got.topic, "public/ann");
    assert.deepEqual(await reader.drain(30), []);
    r.host.files.set("acl", new TextEncoder().encode("topic read public/#\ntopic read ann/#\n"));
    r.host.signal("SIGHUP");
    await r.host.err.waitFor("Reloaded ACL file.");
    ann.publish("ann/private", "no longer", { qos: 1, packetId: 4 });
    assert.equal((await ann.next("puback")).reasonCode, 0x87);
    // A broken file keeps the rules in force.
    r.host.files.set("acl", new TextEncoder().encode("bogus line\n"));
    r.host.signal("SIGHUP");
    await r.host.err.waitFor("Cannot reload ACL file");
    assert.match(r.host.err.text, /acl:1: /);
    ann.publish("ann/private", "still no", { qos: 1, packetId: 5 });
    assert.equal((await ann.next("puback")).reasonCode, 0x87);
  });

  test("runBroker() exits 3 naming file and line of a bad acl_file", T, async () => {
    const { code, err } = await failing(["-c", "m.conf"], {
      files: { "m.conf": "acl_file acl\n", acl: "user ann\ntopic\n" },
    });
    assert.equal(code, 3);
    assert.match(err, /Error: acl:2: /);
  });

  test("runBroker() applies options and ${VAR} from the environment", T, async (t) => {
    const r = await running(t, ["-c", "mq.yaml"], {
      env: { MQ_PORT: "1999" },
      files: {
        "mq.yaml": "listeners:\n  - port: ${MQ_PORT}\nallow_anonymous: true\nmax_qos: 1\n" +
          "auto_id_prefix: pi-\nlog_timestamp: false\n",
      },
    });
    assert.equal(r.broker.addresses[0]!.port, 1999);
    const c = await r.client(5, 1999);
    const connack = await c.connect("");
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.maximumQoS, 1);
    assert.match(connack.properties?.assignedClientIdentifier ?? "", /^pi-/);
    assert.match(r.host.err.text, /^Config loaded from mq\.yaml\.$/m);
  });

  test("runBroker() adds -p listeners and lets them replace a configured port", T, async (t) => {
    const r = await running(t, ["-c", "mq.yaml", "-p", "1884", "-p", "0.0.0.0:1885"], {
      files: { "mq.yaml": "listeners: [1883, 1884]\nallow_anonymous: true\n" },
    });
    assert.deepEqual(r.broker.addresses.map((a) => [a.hostname, a.port]), [
      ["0.0.0.0", 1883],
      ["127.0.0.1", 1884],
      ["0.0.0.0", 1885],
    ]);
  });

  test("runBroker() warns about unsupported options with file and line", T, async (t) => {
    const r = await running(t, ["-c", "m.conf"], {
      files: { "m.conf": "listener 1883\nallow_anonymous true\npid_file /run/mq.pid\n" },
    });
    assert.match(r.host.err.text, /^Warning: m\.conf:3: .*"pid_file"/m);
  });

  test("runBroker() -v enables debug logging over the config's log_type", T, async (t) => {
    const r = await running(t, ["-c", "m.conf", "-v"], {
      files: { "m.conf": "log_type error\n" },
    });
    const c = await r.client();
    await c.connect("dbg");
    // The running broker's lines are written once per turn of the event loop.
    await r.host.err.waitFor("Received CONNECT from");
  });

  test("runBroker() exits 3 with file, line and message on a config error", T, async () => {
    const unknown = await failing(["-c", "mq.yaml"], {
      files: { "mq.yaml": "max_qos: 1\nmax_cheese: 2\n" },
    });
    assert.equal(unknown.code, 3);
    assert.match(unknown.err, /^Error: mq\.yaml:2: .*"max_cheese"/m);
    const range = await failing(["-c", "m.conf"], { files: { "m.conf": "max_qos 5\n" } });
    assert.equal(range.code, 3);
    assert.match(range.err, /^Error: m\.conf:1: /m);
    const strict = await failing(["-c", "m.conf", "--strict"], {
      files: { "m.conf": "listener 1\npid_file /run/mq.pid\n" },
    });
    assert.equal(strict.code, 3);
    assert.match(strict.err, /^Error: m\.conf:2: /m);
    const variable = await failing(["-c", "mq.yaml"], {
      files: { "mq.yaml": "listener: ${UNSET_PORT}\n" },
    });
    assert.equal(variable.code, 3);
    assert.match(variable.err, /^Error: mq\.yaml:1: .*UNSET_PORT/m);
  });

  test("runBroker() exits 3 when a file it names cannot be read", T, async () => {
    const missing = await failing(["-c", "nope.yaml"]);
    assert.equal(missing.code, 3);
    assert.match(missing.err, /^Error: Unable to open config file nope\.yaml\./m);
    const pw = await failing(["-c", "m.conf"], {
      files: { "m.conf": "listener 1883\npassword_file /missing/pw\n" },
    });
    assert.equal(pw.code, 3);
    assert.match(pw.err, /Unable to open password file \/missing\/pw/);
    const badPw = await failing(["-c", "m.conf"], {
      files: { "m.conf": "password_file pw\n", pw: "garbage\n" },
    });
    assert.equal(badPw.code, 3);
    assert.match(badPw.err, /^Error: pw:1: /m);
    const tls = await failing(["-c", "m.conf"], {
      files: { "m.conf": "listener 1883\nlistener 8883\ncertfile a.crt\nkeyfile a.key\n" },
    });
    assert.equal(tls.code, 3);
    assert.match(tls.err, /^Error: m\.conf:2: Unable to open certfile a\.crt/m);
  });

  test("runBroker() exits 3 when -c has no file", T, async () => {
    const result = await failing(["-c"]);
    assert.equal(result.code, 3);
  });
});

const MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd";
const MOSQUITTO_PUB = "/usr/bin/mosquitto_pub";
const haveMosquitto = existsSync(MOSQUITTO_PASSWD) && existsSync(MOSQUITTO_PUB);

test(
  "mq broker -c accepts a password file made by Debian's mosquitto_passwd",
  {
    timeout: 30_000,
    skip: haveMosquitto ? false : "mosquitto_passwd and mosquitto_pub are not installed",
  },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "mq-broker-config-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const pw = join(dir, "passwd");
    const made = spawnSync(MOSQUITTO_PASSWD, ["-c", "-b", pw, "alice", "s3cret"]);
    assert.equal(made.status, 0, String(made.stderr));
    const conf = join(dir, "mosquitto.conf");
    writeFileSync(conf, `listener 0 127.0.0.1\npassword_file ${pw}\n`);
    const [exe, pre] = mqCommand();
    const proc = start(exe, [...pre, "broker", "-c", conf]);
    t.after(() => stop(proc));
    await proc.waitForStderr(/Opening listen socket on 127\.0\.0\.1 port \d+/, 20_000);
    const port = /Opening listen socket on 127\.0\.0\.1 port (\d+)/.exec(proc.stderr())![1]!;
    const pub = (...args: string[]) =>
      spawnSync(MOSQUITTO_PUB, ["-p", port, "-t", "t", "-m", "m", ...args], { timeout: 10_000 });
    assert.equal(pub("-u", "alice", "-P", "s3cret").status, 0);
    assert.equal(pub("-u", "alice", "-P", "wrong").status, 5);
    assert.equal(pub().status, 5);
    assert.match(proc.stderr(), /Config loaded from .*mosquitto\.conf\./);
  },
);
