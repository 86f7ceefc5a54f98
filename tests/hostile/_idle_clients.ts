/**
 * A child process for the idle-clients test: it opens many MQTT connections to a broker in
 * another process (the two ends of 10,000 loopback connections would not fit one process's
 * open-files limit), so the broker's process holds only the broker's ends.
 *
 * Usage: `<runtime> _idle_clients.ts <port> <count> <subscribers>`. Connections alternate
 * MQTT 5 and 3.1.1; they are opened in batches, each sends CONNECT and waits for CONNACK;
 * then the first `subscribers` subscribe to `#`. Standard output gets `ready <count>` once
 * all are connected and subscribed, `got <i>` when subscriber `i` receives a PUBLISH, and
 * `error <message>` on failure. When standard input ends, everything is closed and the
 * process exits.
 *
 * @module
 */

import process from "node:process";
import type { ProtocolVersion } from "../../protocol/mod.ts";
import { connectBytes, tcpAdapter, Wire } from "./_helpers.ts";

const BATCH = 500;

async function main(): Promise<void> {
  const [port, count, subscribers] = process.argv.slice(2).map(Number);
  if (port === undefined || count === undefined || subscribers === undefined) {
    throw new TypeError("Usage: _idle_clients.ts <port> <count> <subscribers>");
  }
  const adapter = await tcpAdapter();
  const wires: Wire[] = [];
  const done = new Promise<void>((resolve) => {
    process.stdin.on("end", resolve);
    process.stdin.on("close", resolve);
    process.stdin.resume();
  });
  for (let base = 0; base < count; base += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, count - base) }, async (_, k) => {
      const i = base + k;
      const version: ProtocolVersion = i % 2 === 0 ? 5 : 4;
      const socket = await adapter.connect({ hostname: "127.0.0.1", port });
      const wire = new Wire(socket, version);
      wires[i] = wire;
      wire.write(connectBytes(`idle-${i}`, version));
      const connack = await wire.packet("connack", 30_000);
      if (connack?.reasonCode !== 0) throw new Error(`Client ${i} got no CONNACK 0`);
      // Keep only what is needed: the packets list is reused for the subscribers below.
      wire.packets.length = 0;
    }));
  }
  await Promise.all(Array.from({ length: subscribers }, async (_, i) => {
    const wire = wires[i]!;
    const version: ProtocolVersion = i % 2 === 0 ? 5 : 4;
    wire.send({
      type: "subscribe",
      packetId: 1,
      subscriptions: [
        version === 5
          ? { filter: "#", qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }
          : { filter: "#", qos: 1 },
      ],
    }, version);
    const suback = await wire.packet("suback", 30_000);
    if (suback?.reasonCodes[0] !== 1) throw new Error(`Subscriber ${i} got no SUBACK 1`);
    wire.packets.length = 0;
    void wire.packet("publish", 600_000).then((publish) => {
      if (publish === undefined) return;
      if (publish.packetId !== undefined) {
        wire.send({ type: "puback", packetId: publish.packetId }, version);
      }
      process.stdout.write(`got ${i}\n`);
    });
  }));
  process.stdout.write(`ready ${wires.length}\n`);
  await done;
  for (const wire of wires) wire.destroy();
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stdout.write(`error ${error}\n`);
    process.exit(1);
  },
);
