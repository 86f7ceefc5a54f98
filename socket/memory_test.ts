import assert from "node:assert/strict";
import { describe, test } from "../tests/_testing.ts";
import { MemoryNetwork, memoryPair } from "./memory.ts";
import type { Socket } from "./types.ts";

function collect(socket: Socket): { chunks: Uint8Array[]; closes: (Error | undefined)[] } {
  const result = { chunks: [] as Uint8Array[], closes: [] as (Error | undefined)[] };
  socket.setHandlers({
    onData: (chunk) => result.chunks.push(chunk.slice()),
    onClose: (error) => result.closes.push(error),
  });
  return result;
}

function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

describe("memoryPair()", () => {
  test("memoryPair() coalesces the writes of one turn into one chunk", async () => {
    const [a, b] = memoryPair();
    const seen = collect(b);
    const scratch = new Uint8Array([1]);
    a.write(scratch);
    scratch[0] = 2; // the caller may reuse its buffer
    a.write(scratch);
    a.write(new Uint8Array([3]));
    assert.equal(seen.chunks.length, 0, "delivery must be asynchronous");
    await tick();
    assert.deepEqual(seen.chunks, [new Uint8Array([1, 2, 3])]);
    a.destroy();
  });

  test("memoryPair() holds data until setHandlers() is called", async () => {
    const [a, b] = memoryPair();
    a.write(new Uint8Array([9]));
    await tick();
    assert.equal(a.bufferedAmount, 1);
    const seen = collect(b);
    await tick();
    assert.deepEqual(seen.chunks, [new Uint8Array([9])]);
    assert.equal(a.bufferedAmount, 0);
    a.destroy();
  });

  test("Socket.pause() on the reader builds backpressure; resume() drains it", async () => {
    const [a, b] = memoryPair({ highWaterMark: 4 });
    const seen = collect(b);
    let drains = 0;
    a.setHandlers({ onDrain: () => drains++ });
    b.pause();
    assert.equal(a.write(new Uint8Array([1, 2, 3])), true);
    assert.equal(a.write(new Uint8Array([4, 5])), false);
    await tick();
    assert.equal(seen.chunks.length, 0);
    assert.equal(a.bufferedAmount, 5);
    assert.equal(drains, 0);
    b.resume();
    await tick();
    assert.deepEqual(seen.chunks, [new Uint8Array([1, 2, 3, 4, 5])]);
    assert.equal(drains, 1);
    a.destroy();
  });

  test("Socket.close() delivers queued bytes, then closes both ends once", async () => {
    const [a, b] = memoryPair();
    const left = collect(a);
    const right = collect(b);
    a.write(new Uint8Array([1, 2]));
    a.close();
    a.close();
    assert.equal(a.closed, true);
    assert.equal(a.write(new Uint8Array([3])), false);
    await tick();
    await tick();
    assert.deepEqual(right.chunks, [new Uint8Array([1, 2])]);
    assert.deepEqual(left.closes, [undefined]);
    assert.deepEqual(right.closes, [undefined]);
    assert.equal(b.closed, true);
    assert.equal(b.write(new Uint8Array([4])), false);
  });

  test("Socket.destroy() discards queued bytes and reports the error locally", async () => {
    const [a, b] = memoryPair();
    const left = collect(a);
    const right = collect(b);
    a.write(new Uint8Array([1]));
    const failure = new Error("boom");
    a.destroy(failure);
    a.destroy();
    await tick();
    assert.deepEqual(right.chunks, []);
    assert.deepEqual(left.closes, [failure]);
    assert.deepEqual(right.closes, [undefined]);
  });

  test("Socket.setHandlers() after a close still reports onClose", async () => {
    const [a, b] = memoryPair();
    a.destroy();
    await tick();
    const right = collect(b);
    await tick();
    assert.deepEqual(right.closes, [undefined]);
  });

  test("memoryPair() rejects a high-water mark that is not a positive integer", () => {
    assert.throws(() => memoryPair({ highWaterMark: 0 }), RangeError);
    assert.throws(() => memoryPair({ highWaterMark: 1.5 }), RangeError);
  });
});

describe("MemoryNetwork", () => {
  test("MemoryNetwork.listen() refuses a port already in use", async () => {
    const network = new MemoryNetwork();
    const listener = await network.listen({ port: 1883 }, (socket) => socket.destroy());
    await assert.rejects(network.listen({ port: 1883 }, (socket) => socket.destroy()), Error);
    await listener.close();
    const again = await network.listen({ port: 1883 }, (socket) => socket.destroy());
    await again.close();
  });

  test("MemoryNetwork instances do not share listeners", async () => {
    const first = new MemoryNetwork();
    const listener = await first.listen({ port: 0 }, (socket) => socket.destroy());
    const port = listener.address.port;
    await assert.rejects(new MemoryNetwork().connect({ hostname: "127.0.0.1", port }), Error);
    await listener.close();
  });

  test("MemoryNetwork rejects TLS with a TypeError", async () => {
    const network = new MemoryNetwork();
    await assert.rejects(
      network.listen({ port: 0, tls: { cert: "x", key: "y" } }, (socket) => socket.destroy()),
      TypeError,
    );
    await assert.rejects(network.connect({ hostname: "a", port: 1, tls: {} }), TypeError);
  });

  test("MemoryNetwork.connect() rejects with the reason of an aborted signal", async () => {
    const network = new MemoryNetwork();
    const listener = await network.listen({ port: 0 }, (socket) => socket.destroy());
    const reason = new Error("stop");
    await assert.rejects(
      network.connect({
        hostname: "a",
        port: listener.address.port,
        signal: AbortSignal.abort(reason),
      }),
      (error) => error === reason,
    );
    await listener.close();
  });

  test("MemoryNetwork.connect() reports both addresses", async () => {
    const network = new MemoryNetwork();
    let server: Socket | undefined;
    const listener = await network.listen({ hostname: "broker", port: 0 }, (socket) => {
      server = socket;
    });
    const client = await network.connect({ hostname: "broker", port: listener.address.port });
    assert.ok(server !== undefined);
    assert.deepEqual(client.remoteAddress, listener.address);
    assert.deepEqual(server.remoteAddress, client.localAddress);
    assert.equal(client.localAddress.transport, "memory");
    client.destroy();
    await listener.close();
  });
});
