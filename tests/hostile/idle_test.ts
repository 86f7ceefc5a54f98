/**
 * 10,000 idle clients over real sockets: opened in batches by a child process (see
 * `_idle_clients.ts`), all CONNACKed, the broker's memory growth per connection measured and
 * bounded, and a message still reaches the few of them that subscribed to `#`.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { brokerFor } from "../broker/_client.ts";
import {
  connectBytes,
  errorLog,
  memory,
  openFilesLimit,
  runtimeName,
  watchCrashes,
  Wire,
  within,
} from "./_helpers.ts";

const CLIENTS = 10_000;
const SUBSCRIBERS = 6;
// Growth of the broker's process per idle connection (half MQTT 5, half 3.1.1), measured
// after a full GC on this project's 2-core machine, in KiB: `heap` is the JavaScript heap plus
// the ArrayBuffer and native memory the engine accounts for (see memory()), `rss` the resident
// set. The bounds are three times these figures.
// - Deno 2.9: heap 87.1, RSS 17.0 (up to 32.9 when the other hostile tests ran before in the
//   same process). The heap is mostly socket/deno.ts's buffers: a 64 KiB read buffer and a
//   16 KiB write buffer per socket, allocated but barely touched (hence the RSS).
// - Bun 1.4: heap 20.1 (16.5 of it native socket memory JSC counts), RSS 11.7.
// - Node 20: heap 70.3, RSS 72.8. 64 KiB of it is the write slab socket/node.ts allocates on a
//   socket's first write and keeps while the socket lives (resident: Node zero-fills it).
const MEASURED: Record<string, { heap: number; rss: number }> = {
  deno: { heap: 87.1, rss: 32.9 },
  bun: { heap: 20.1, rss: 11.7 },
  node: { heap: 70.3, rss: 72.8 },
};

// The broker's process holds one socket per client, plus the listener and the runtime's own.
const limit = openFilesLimit();
const skip = limit === undefined
  ? "the open-files limit is unknown (no /proc/self/limits)"
  : limit < CLIENTS + 500
  ? `the open-files limit (ulimit -n) is ${limit}, below ${CLIENTS + 500}`
  : false;

function childCommand(): [string, string[]] {
  const here = import.meta.url;
  const ext = here.endsWith(".js") ? "js" : "ts";
  const entry = fileURLToPath(new URL(`./_idle_clients.${ext}`, here));
  if ((globalThis as { Deno?: unknown }).Deno !== undefined) {
    return [process.execPath, ["run", "-A", entry]];
  }
  return [process.execPath, [entry]];
}

describe("hostile clients: idle connections", () => {
  test(
    "startBroker() holds 10,000 idle v5 and v3.1.1 clients in bounded memory and still delivers to them",
    { timeout: 90_000, skip },
    async (t) => {
      const crashes = watchCrashes(t);
      const log = errorLog();
      const broker = await brokerFor(t, { logger: log.logger, logTypes: ["error"] });
      const port = broker.addresses[0]!.port;
      const before = memory();

      const [command, args] = childCommand();
      const started = performance.now();
      const child = spawn(command, [...args, `${port}`, `${CLIENTS}`, `${SUBSCRIBERS}`], {
        stdio: ["pipe", "pipe", "pipe"],
      });
      const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
      t.after(async () => {
        child.stdin!.end();
        // It exits when its standard input ends; the kill is the fallback.
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      });
      let out = "";
      let err = "";
      const watchers = new Set<() => void>();
      child.stdout!.on("data", (chunk: Uint8Array) => {
        out += new TextDecoder().decode(chunk);
        for (const w of watchers) w();
      });
      child.stderr!.on(
        "data",
        (chunk: Uint8Array) => void (err += new TextDecoder().decode(chunk)),
      );
      void exited.then(() => watchers.forEach((w) => w()));
      const waitFor = (pattern: RegExp, ms: number, what: string): Promise<void> =>
        within(
          new Promise<void>((resolve, reject) => {
            const check = () => {
              if (pattern.test(out)) {
                watchers.delete(check);
                resolve();
              } else if (/^error /m.test(out) || child.exitCode !== null) {
                watchers.delete(check);
                reject(new Error(`Idle clients failed: ${out} ${err}`));
              }
            };
            watchers.add(check);
            check();
          }),
          ms,
          what,
        );

      await waitFor(/^ready \d+$/m, 60_000, `${CLIENTS} clients connected`);
      const connectedIn = performance.now() - started;
      assert.equal(broker.stats.clientsConnected, CLIENTS);
      assert.equal(broker.stats.subscriptions, SUBSCRIBERS);
      const after = memory();
      const heap = (after.heap - before.heap) / CLIENTS;
      const rss = (after.rss - before.rss) / CLIENTS;
      console.log(
        `${runtimeName()}: ${CLIENTS} idle clients connected in ${connectedIn.toFixed(0)} ms; ` +
          `per connection ${(heap / 1024).toFixed(2)} KiB heap, ${(rss / 1024).toFixed(2)} KiB RSS`,
      );
      const measured = MEASURED[runtimeName()]!;
      assert.ok(heap < 3 * measured.heap * 1024, `${heap} bytes of heap per connection`);
      assert.ok(rss < 3 * measured.rss * 1024, `${rss} bytes of RSS per connection`);

      // A message to everyone: the `#` subscribers among the idle clients all get it.
      const publisher = await Wire.open(broker, 5);
      t.after(() => publisher.destroy());
      publisher.write(connectBytes("publisher", 5));
      assert.equal((await publisher.packet("connack", 10_000))?.reasonCode, 0);
      publisher.send({
        type: "publish",
        topic: "hostile/everyone",
        payload: new TextEncoder().encode("hello"),
        qos: 1,
        packetId: 1,
        retain: false,
        dup: false,
      }, 5);
      assert.equal((await publisher.packet("puback", 10_000))?.reasonCode, 0);
      for (let i = 0; i < SUBSCRIBERS; i++) {
        await waitFor(new RegExp(`^got ${i}$`, "m"), 20_000, `subscriber ${i} got the message`);
      }
      assert.equal(broker.stats.clientsConnected, CLIENTS + 1);
      assert.deepEqual(crashes, []);
      assert.deepEqual(log.errors, []);
    },
  );
});
