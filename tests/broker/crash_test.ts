/**
 * Crash test, bounded: `mq broker` with persistence runs as a subprocess; a QoS 1 and a
 * QoS 2 publisher stream numbered messages to a persistent subscriber while the broker is
 * killed with SIGKILL at seeded random moments, several times, and restarted on the same
 * store. Every message a publisher got an acknowledgement for (PUBACK, PUBREC) must reach
 * the subscriber: QoS 1 at least once, QoS 2 exactly once.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import { sqliteSkip } from "../_sqlite.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { nodeAdapter } from "../../socket/node.ts";
import { freePort, type Proc, start, stop } from "../binary/_process.ts";
import { mqCommand } from "../cli/_mq.ts";
import { RawClient, text } from "./_client.ts";

const skip = sqliteSkip;
const ROUNDS = 4;
const SEED = Number(process.env.MQ_CRASH_SEED ?? 20261125);

/** A small seeded generator (mulberry32), so a failing run can be repeated. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function startBrokerProcess(conf: string): Promise<Proc> {
  const [exe, args] = mqCommand();
  const proc = start(exe, [...args, "broker", "-c", conf]);
  await proc.waitForStderr(/mq version .* running/, 30_000);
  return proc;
}

async function tcp(t: TestContext, port: number, version: 4 | 5): Promise<RawClient> {
  const socket = await nodeAdapter.connect({ hostname: "127.0.0.1", port });
  const client = new RawClient(socket, version);
  t.after(() => client.destroy());
  return client;
}

/** The subscriber: a persistent session that acknowledges as a QoS 2 receiver must. */
class Sink {
  readonly qos1 = new Map<number, number>();
  readonly qos2 = new Map<number, number>();
  // QoS 2 packet ids received and not yet released: a repeat is not delivered again.
  readonly #pending = new Set<number>();
  #client: RawClient | undefined;
  #wake: (() => void) | undefined;

  async connect(t: TestContext, port: number): Promise<void> {
    const client = await tcp(t, port, 5);
    this.#client = client;
    const connack = await client.connect("sink", {
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    assert.equal(connack.reasonCode, 0);
    void this.#pump(client);
  }

  async subscribe(): Promise<void> {
    const codes = await this.#client!.subscribe([{ filter: "seq/1", qos: 1 }, {
      filter: "seq/2",
      qos: 2,
    }]);
    assert.deepEqual(codes, [1, 2]);
  }

  async #pump(client: RawClient): Promise<void> {
    for (;;) {
      let packet;
      try {
        packet = await client.next(undefined, 60_000);
      } catch {
        return; // closed
      }
      if (packet.type === "publish") {
        const n = Number(text(packet.payload));
        if (packet.qos === 1) {
          this.qos1.set(n, (this.qos1.get(n) ?? 0) + 1);
          client.send({ type: "puback", packetId: packet.packetId!, reasonCode: 0 });
        } else if (packet.qos === 2) {
          if (!this.#pending.has(packet.packetId!)) {
            this.#pending.add(packet.packetId!);
            this.qos2.set(n, (this.qos2.get(n) ?? 0) + 1);
          }
          client.send({ type: "pubrec", packetId: packet.packetId!, reasonCode: 0 });
        }
        this.#wake?.();
      } else if (packet.type === "pubrel") {
        this.#pending.delete(packet.packetId);
        client.send({ type: "pubcomp", packetId: packet.packetId, reasonCode: 0 });
      }
    }
  }

  /** Resolves once every number in `acked1`/`acked2` arrived, or rejects after `ms`. */
  async waitFor(acked1: Set<number>, acked2: Set<number>, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    const done = () =>
      [...acked1].every((n) => this.qos1.has(n)) && [...acked2].every((n) => this.qos2.has(n));
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }
}

/** Publish numbered messages one after another until stopped or the connection drops. */
async function stream(
  client: RawClient,
  qos: 1 | 2,
  next: { n: number },
  acked: Set<number>,
  running: () => boolean,
): Promise<void> {
  let packetId = 0;
  while (running() && !client.closed) {
    const n = next.n++;
    packetId = (packetId % 65_535) + 1;
    try {
      client.publish(`seq/${qos}`, String(n), { qos, packetId });
      const ack = await client.next(qos === 1 ? "puback" : "pubrec", 10_000);
      if ((ack.reasonCode ?? 0) >= 0x80) throw new Error(`refused ${n}`);
      acked.add(n);
      if (qos === 2) {
        client.send({ type: "pubrel", packetId, reasonCode: 0 });
        await client.next("pubcomp", 10_000);
      }
    } catch {
      return; // the broker died mid-flow: this message is not acknowledged
    }
  }
}

describe("broker crash safety (SIGKILL)", { skip }, () => {
  test(
    "mq broker delivers every acknowledged message after repeated SIGKILLs (QoS 1 at least once, QoS 2 exactly once)",
    { timeout: 180_000 },
    async (t) => {
      const dir = mkdtempSync(join(tmpdir(), "mq-crash-"));
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      const port = await freePort();
      const conf = join(dir, "mq.conf");
      writeFileSync(
        conf,
        `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence true\n` +
          `persistence_location ${dir}/\nsys_interval 0\n` +
          // Queue overflow would drop messages by design: the test is about crashes.
          "max_queued_messages 0\n",
      );
      const rand = random(SEED);
      const acked1 = new Set<number>();
      const acked2 = new Set<number>();
      const next1 = { n: 1 };
      const next2 = { n: 1 };
      const sink = new Sink();
      let broker = await startBrokerProcess(conf);
      t.after(() => stop(broker));
      await sink.connect(t, port);
      await sink.subscribe();
      for (let round = 0; round < ROUNDS; round++) {
        let running = true;
        const p1 = await tcp(t, port, 5);
        await p1.connect(`pub1-${round}`);
        const p2 = await tcp(t, port, 4);
        await p2.connect(`pub2-${round}`);
        const flows = [
          stream(p1, 1, next1, acked1, () => running),
          stream(p2, 2, next2, acked2, () => running),
        ];
        // Let them run for a seeded random while, then kill the broker mid-stream.
        await new Promise((resolve) => setTimeout(resolve, 150 + Math.floor(rand() * 400)));
        broker.child.kill("SIGKILL");
        await broker.exited;
        running = false;
        await Promise.all(flows);
        broker = await startBrokerProcess(conf);
        await sink.connect(t, port);
      }
      await sink.waitFor(acked1, acked2, 20_000);
      assert.ok(acked1.size > 0 && acked2.size > 0, "the publishers got acknowledgements");
      const lost1 = [...acked1].filter((n) => !sink.qos1.has(n));
      const lost2 = [...acked2].filter((n) => !sink.qos2.has(n));
      assert.deepEqual(lost1, [], `QoS 1 messages acknowledged but lost (seed ${SEED})`);
      assert.deepEqual(lost2, [], `QoS 2 messages acknowledged but lost (seed ${SEED})`);
      const twice = [...sink.qos2].filter(([, count]) => count > 1).map(([n]) => n);
      assert.deepEqual(twice, [], `QoS 2 messages delivered more than once (seed ${SEED})`);
    },
  );
});
