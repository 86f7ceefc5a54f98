/**
 * A raw MQTT test client built on our own Decoder and encoder, over the node adapter (TCP)
 * or a memory pair, plus a helper to start a broker on port 0 for a test.
 *
 * @module
 */

import type { TestContext } from "node:test";
import { startBroker } from "../../broker/broker.ts";
import type { Broker, BrokerOptions } from "../../broker/types.ts";
import {
  type ConnackPacket,
  type ConnectPacket,
  Decoder,
  encodePacket,
  type Packet,
  type PacketName,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  type Subscription,
} from "../../protocol/mod.ts";
import { memoryPair } from "../../socket/memory.ts";
import { nodeAdapter } from "../../socket/node.ts";
import type { Socket } from "../../socket/types.ts";

/** Start a broker on 127.0.0.1 port 0 (no $SYS unless asked), closed after the test. */
export async function brokerFor(t: TestContext, options: BrokerOptions = {}): Promise<Broker> {
  const broker = await startBroker({
    listeners: [{ hostname: "127.0.0.1", port: 0 }],
    sysInterval: 0,
    ...options,
  });
  t.after(() => broker.close());
  return broker;
}

/** The text of a payload. */
export function text(payload: Uint8Array): string {
  return new TextDecoder().decode(payload);
}

/** UTF-8 bytes of a string. */
export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

type PacketOf<N extends PacketName> = Extract<Packet, { type: N }>;

/** A raw client: send packets, await the ones that come back. */
export class RawClient {
  readonly socket: Socket;
  readonly version: ProtocolVersion;
  readonly #decoder: Decoder;
  readonly #inbox: Packet[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  #closedPromise: Promise<void>;
  /** Set when the decoder failed on what the broker sent. */
  error: Error | undefined;

  constructor(socket: Socket, version: ProtocolVersion) {
    this.socket = socket;
    this.version = version;
    this.#decoder = new Decoder({ side: "client", protocolVersion: version });
    let done!: () => void;
    this.#closedPromise = new Promise((resolve) => (done = resolve));
    socket.setHandlers({
      onData: (chunk) => {
        this.#decoder.push(chunk);
        for (let p = this.#decoder.next(); p !== undefined; p = this.#decoder.next()) {
          this.#inbox.push(p);
        }
        if (this.#decoder.error) this.error = this.#decoder.error;
        this.#wake?.();
      },
      onClose: () => {
        this.#closed = true;
        done();
        this.#wake?.();
      },
    });
  }

  /** Connect over TCP with the node adapter; closed after the test. */
  static async tcp(
    t: TestContext,
    broker: Broker,
    version: ProtocolVersion = 5,
  ): Promise<RawClient> {
    const address = broker.addresses[0]!;
    const socket = await nodeAdapter.connect({ hostname: address.hostname, port: address.port });
    const client = new RawClient(socket, version);
    t.after(() => client.destroy());
    return client;
  }

  /** Connect through a memory pair attached with `broker.connect()`. */
  static memory(t: TestContext, broker: Broker, version: ProtocolVersion = 5): RawClient {
    const [a, b] = memoryPair();
    broker.connect(a);
    const client = new RawClient(b, version);
    t.after(() => client.destroy());
    return client;
  }

  /** Whether the socket closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves when the socket closes. */
  whenClosed(): Promise<void> {
    return this.#closedPromise;
  }

  /** Send a packet. */
  send(packet: Packet): void {
    this.socket.write(encodePacket(packet, this.version));
  }

  /** Send raw bytes. */
  sendBytes(data: Uint8Array): void {
    this.socket.write(data);
  }

  /**
   * The next packet (of the given type, skipping none: a different type fails).
   *
   * @param type Expected type.
   * @param timeout Milliseconds to wait.
   */
  async next<N extends PacketName>(type?: N, timeout = 2000): Promise<PacketOf<N>> {
    const packet = await this.#take(timeout);
    if (packet === undefined) {
      throw new Error(
        `Expected ${type ?? "a packet"}: ${this.#closed ? "connection closed" : "timed out"}`,
      );
    }
    if (type !== undefined && packet.type !== type) {
      throw new Error(`Expected ${type}, got ${JSON.stringify(packet, replacer)}`);
    }
    return packet as PacketOf<N>;
  }

  /** Wait up to `ms` and return every packet that arrived (for "nothing more" checks). */
  async drain(ms = 100): Promise<Packet[]> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.#inbox.splice(0);
  }

  async #take(timeout: number): Promise<Packet | undefined> {
    const deadline = Date.now() + timeout;
    while (this.#inbox.length === 0) {
      if (this.#closed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
    return this.#inbox.shift();
  }

  /** CONNECT and return the CONNACK. */
  async connect(
    clientId: string,
    options: Partial<Omit<ConnectPacket, "type" | "protocolVersion" | "clientId">> = {},
  ): Promise<ConnackPacket> {
    this.send({
      type: "connect",
      protocolVersion: this.version,
      clientId,
      clean: true,
      keepAlive: 0,
      ...options,
    });
    return await this.next("connack");
  }

  /** SUBSCRIBE to filters and return the SUBACK reason codes. */
  async subscribe(
    subscriptions: (string | Subscription)[],
    options: { qos?: QoS; identifier?: number; packetId?: number } = {},
  ): Promise<number[]> {
    const packetId = options.packetId ?? 1;
    const subs: Subscription[] = subscriptions.map((s) => {
      const sub: Subscription = typeof s === "string" ? { filter: s, qos: options.qos ?? 0 } : s;
      return this.version === 5
        ? { noLocal: false, retainAsPublished: false, retainHandling: 0, ...sub }
        : sub;
    });
    const packet: Packet = { type: "subscribe", packetId, subscriptions: subs };
    if (options.identifier !== undefined) {
      packet.properties = { subscriptionIdentifier: options.identifier };
    }
    this.send(packet);
    const suback = await this.next("suback");
    return suback.reasonCodes;
  }

  /** PUBLISH (with packet id 1 for QoS > 0 unless given). */
  publish(
    topic: string,
    payload: string,
    options: Partial<Omit<PublishPacket, "type" | "topic" | "payload">> = {},
  ): void {
    const qos = options.qos ?? 0;
    const packet: PublishPacket = {
      type: "publish",
      topic,
      payload: bytes(payload),
      qos,
      retain: false,
      dup: false,
      ...options,
    };
    if (qos > 0 && packet.packetId === undefined) packet.packetId = 1;
    if (qos === 0) delete packet.packetId;
    this.send(packet);
  }

  /** DISCONNECT normally and close. */
  disconnect(reasonCode?: number): void {
    this.send(
      this.version === 5 ? { type: "disconnect", reasonCode: reasonCode ?? 0 } : {
        type: "disconnect",
      },
    );
    this.socket.close();
  }

  /** Close at once (network loss). */
  destroy(): void {
    this.socket.destroy();
  }
}

function replacer(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? `bytes(${text(value)})` : value;
}
