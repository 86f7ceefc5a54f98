/**
 * A socket in the middle of a client's connection: it records every packet in both
 * directions and, when a rule says so, cuts the connection right before a packet passes,
 * as a process that dies would (no DISCONNECT, the packet is lost).
 *
 * @module
 */

import { Decoder } from "../../protocol/decode.ts";
import type { Packet } from "../../protocol/packet.ts";
import type { Transport } from "../../client/options.ts";
import type { Socket, SocketAddress, SocketHandlers } from "../../socket/types.ts";

/** `"in"`: from the broker to the client; `"out"`: from the client. */
export type Direction = "in" | "out";

/** Decides whether the connection is cut before `packet` passes. */
export type CutRule = (packet: Packet, direction: Direction) => boolean;

// Splits a byte stream into whole MQTT packets.
class Framer {
  #buf = new Uint8Array(0);

  push(chunk: Uint8Array): Uint8Array[] {
    const buf = new Uint8Array(this.#buf.length + chunk.length);
    buf.set(this.#buf);
    buf.set(chunk, this.#buf.length);
    const out: Uint8Array[] = [];
    let at = 0;
    for (;;) {
      let length = 0;
      let shift = 0;
      let i = at + 1;
      for (; i < buf.length && i < at + 5; i++) {
        length += (buf[i]! & 0x7f) << shift;
        shift += 7;
        if ((buf[i]! & 0x80) === 0) break;
      }
      if (i >= buf.length || (buf[i]! & 0x80) !== 0) break;
      const end = i + 1 + length;
      if (end > buf.length) break;
      out.push(buf.slice(at, end));
      at = end;
    }
    this.#buf = buf.slice(at);
    return out;
  }
}

class TapSocket implements Socket {
  readonly #inner: Socket;
  readonly #tap: Tap;
  #handlers: SocketHandlers = {};
  #cut = false;
  readonly #in = new Framer();
  readonly #out = new Framer();
  readonly #outDecoder = new Decoder({ side: "server" });
  #inDecoder: Decoder | undefined;

  constructor(inner: Socket, tap: Tap) {
    this.#inner = inner;
    this.#tap = tap;
    inner.setHandlers({
      onData: (chunk) => {
        for (const raw of this.#in.push(chunk)) {
          if (this.#cut) return;
          this.#inDecoder ??= new Decoder({ side: "client", protocolVersion: tap.version });
          if (this.#pass(raw, this.#inDecoder, "in")) this.#handlers.onData?.(raw);
        }
      },
      onDrain: () => this.#handlers.onDrain?.(),
      onClose: (error) => {
        if (!this.#cut) this.#handlers.onClose?.(error);
      },
    });
  }

  setHandlers(handlers: SocketHandlers): void {
    this.#handlers = handlers;
  }

  write(data: Uint8Array): boolean {
    let ok = true;
    for (const raw of this.#out.push(data)) {
      if (this.#cut) return false;
      if (this.#pass(raw, this.#outDecoder, "out")) ok = this.#inner.write(raw);
    }
    return ok;
  }

  close(): void {
    this.#inner.close();
  }

  destroy(error?: Error): void {
    this.#inner.destroy(error);
  }

  pause(): void {
    this.#inner.pause();
  }

  resume(): void {
    this.#inner.resume();
  }

  get closed(): boolean {
    return this.#cut || this.#inner.closed;
  }

  get bufferedAmount(): number {
    return this.#inner.bufferedAmount;
  }

  get encrypted(): boolean {
    return this.#inner.encrypted;
  }

  get remoteAddress(): SocketAddress {
    return this.#inner.remoteAddress;
  }

  get localAddress(): SocketAddress {
    return this.#inner.localAddress;
  }

  // Record the packet and return whether it passes; else cut the connection.
  #pass(raw: Uint8Array, decoder: Decoder, direction: Direction): boolean {
    decoder.push(raw);
    const packet = decoder.next();
    if (packet === undefined) throw new Error(`Cannot decode ${direction} packet`);
    if (packet.type === "connect") this.#tap.version = packet.protocolVersion;
    if (this.#tap.rule?.(packet, direction)) {
      this.#cut = true;
      this.#tap.rule = undefined;
      this.#inner.destroy();
      // Never from inside the client's own write().
      queueMicrotask(() => {
        this.#handlers.onClose?.(new Error("Connection cut by the test"));
        this.#tap.onCut?.(packet, direction);
      });
      return false;
    }
    this.#tap.passed(direction, packet);
    return true;
  }
}

/** Wraps the sockets a transport opens; records packets and cuts by rule. */
export class Tap {
  /** Every packet that passed, per direction, across connections. */
  readonly log: [Direction, Packet][] = [];
  /** Cuts once, then is cleared. */
  rule: CutRule | undefined;
  /** Called after a cut, with the packet that did not pass. */
  onCut: ((packet: Packet, direction: Direction) => void) | undefined;
  /** Protocol version of the last CONNECT. */
  version: 3 | 4 | 5 = 5;
  readonly transport: Transport;

  constructor(open: Transport) {
    this.transport = async (options) => new TapSocket(await open(options), this);
  }

  #waiters: ((direction: Direction, packet: Packet) => void)[] = [];

  /** Record a packet that passed. */
  passed(direction: Direction, packet: Packet): void {
    this.log.push([direction, packet]);
    for (const waiter of [...this.#waiters]) waiter(direction, packet);
  }

  /** Resolves when a matching packet passes (or passed), rejects after `timeout` ms. */
  waitFor(
    direction: Direction,
    match: (packet: Packet) => boolean,
    timeout = 5000,
  ): Promise<Packet> {
    const seen = this.packets(direction).find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`No matching ${direction} packet in ${timeout} ms`));
      }, timeout);
      const waiter = (d: Direction, packet: Packet) => {
        if (d !== direction || !match(packet)) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(packet);
      };
      this.#waiters.push(waiter);
    });
  }

  /** The packets that passed in one direction. */
  packets(direction: Direction): Packet[] {
    return this.log.filter(([d]) => d === direction).map(([, p]) => p);
  }
}
