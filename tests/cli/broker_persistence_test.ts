/**
 * `mq broker` with `persistence true`: sessions and retained messages survive a restart of
 * the command; a store it cannot read stops it with the file named, and `--recover` moves
 * the file aside (never deleting it) and starts empty.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import { sqliteSkip } from "../_sqlite.ts";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { rename } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBroker } from "../../cli/broker.ts";
import type { Broker } from "../../broker/types.ts";
import { MemoryNetwork } from "../../socket/memory.ts";
import { RawClient, text } from "../broker/_client.ts";
import { fakeHost } from "./_fake_host.ts";

const T = { timeout: 20_000 };

const skip = sqliteSkip;

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "mq-persist-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Run `mq broker` in-process until `stop()`; the network is shared between runs. */
async function run(args: string[], conf: string, network: MemoryNetwork) {
  const host = fakeHost({ files: { "m.conf": conf } });
  let listening!: (broker: Broker) => void;
  const ready = new Promise<Broker>((resolve) => (listening = resolve));
  const code = runBroker(args, {
    ...host,
    rename,
    adapter: network,
    onListening: (b) => listening(b),
  });
  const outcome = await Promise.race([ready, code]);
  return {
    host,
    code,
    broker: typeof outcome === "number" ? undefined : outcome,
    async stop() {
      host.signal("SIGTERM");
      return await code;
    },
  };
}

async function client(t: TestContext, network: MemoryNetwork, version: 4 | 5 = 5) {
  const socket = await network.connect({ hostname: "127.0.0.1", port: 1883 });
  const c = new RawClient(socket, version);
  t.after(() => c.destroy());
  return c;
}

describe("mq broker persistence", { skip }, () => {
  test("runBroker() keeps sessions and retained messages across a restart", T, async (t) => {
    const dir = tempDir(t);
    const conf =
      `listener 1883\nallow_anonymous true\npersistence true\npersistence_location ${dir}/\n`;
    const network = new MemoryNetwork();
    let mq = await run(["-c", "m.conf"], conf, network);
    const sub = await client(t, network, 4);
    await sub.connect("device", { clean: false });
    await sub.subscribe([{ filter: "cmd/#", qos: 1 }]);
    sub.disconnect();
    await sub.whenClosed();
    const pub = await client(t, network);
    await pub.connect("pub");
    pub.publish("cmd/reboot", "now", { qos: 1, packetId: 1 });
    await pub.next("puback");
    pub.publish("state", "on", { qos: 1, retain: true, packetId: 2 });
    await pub.next("puback");
    assert.equal(await mq.stop(), 0);
    assert.ok(existsSync(join(dir, "mq.db")));

    mq = await run(["-c", "m.conf"], conf, network);
    t.after(() => mq.stop());
    assert.match(mq.host.err.text, /Restored 1 sessions and 1 retained messages/);
    const back = await client(t, network, 4);
    assert.equal((await back.connect("device", { clean: false })).sessionPresent, true);
    const message = await back.next("publish");
    assert.deepEqual([message.topic, text(message.payload), message.qos], ["cmd/reboot", "now", 1]);
  });

  test("runBroker() refuses a store it cannot read; --recover moves it aside", T, async (t) => {
    const dir = tempDir(t);
    const file = join(dir, "broken.db");
    const garbage = "not a database ".repeat(200);
    writeFileSync(file, garbage);
    const conf = `listener 1883\npersistence true\npersistence_file ${file}\n`;
    const network = new MemoryNetwork();
    const refused = await run(["-c", "m.conf"], conf, network);
    assert.equal(await refused.code, 1);
    assert.match(
      refused.host.err.text,
      new RegExp(`Error: Cannot open the persistence store ${file}`),
    );
    assert.match(refused.host.err.text, /--recover/);
    assert.equal(readFileSync(file, "utf8"), garbage);

    const recovered = await run(["--recover", "-c", "m.conf"], conf, network);
    t.after(() => recovered.stop());
    assert.ok(recovered.broker !== undefined, recovered.host.err.text);
    const aside = readdirSync(dir).find((f) => f.startsWith("broken.db.corrupt-"));
    assert.ok(aside !== undefined);
    assert.equal(readFileSync(join(dir, aside), "utf8"), garbage);
    assert.match(recovered.host.err.text, /moved it to .*broken\.db\.corrupt-/);
  });
});
