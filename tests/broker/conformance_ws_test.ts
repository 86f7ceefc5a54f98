/**
 * Server-side normative statements of MQTT over WebSocket (v5 §6, v3.1.1 §6), named by
 * their ids for scripts/conformance_report.ts: the broker's WebSocket listener driven by
 * npm's `ws` client sending hand-made binary and text frames.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import { WebSocket } from "ws";
import {
  Decoder,
  encodePacket,
  type Packet,
  type PacketName,
  type ProtocolVersion,
} from "../../protocol/mod.ts";
import { brokerFor } from "./_client.ts";

const T = { timeout: 10_000 };

type PacketOf<N extends PacketName> = Extract<Packet, { type: N }>;

/** A `ws` client that decodes what the broker sends and records how the socket closed. */
class WsPeer {
  readonly ws: WebSocket;
  readonly version: ProtocolVersion;
  readonly #decoder: Decoder;
  readonly #inbox: Packet[] = [];
  #wake: (() => void) | undefined;
  /** Frames the broker sent as text (MQTT allows only binary ones [MQTT-6.0.0-1]). */
  textFrames = 0;
  /** The close code, once closed. */
  closeCode: number | undefined;
  readonly closed: Promise<number>;
  readonly opened: Promise<void>;

  constructor(url: string, version: ProtocolVersion, protocols: string[] = ["mqtt"]) {
    this.version = version;
    this.#decoder = new Decoder({ side: "client", protocolVersion: version });
    this.ws = new WebSocket(url, protocols);
    this.ws.binaryType = "arraybuffer";
    this.opened = new Promise((resolve, reject) => {
      this.ws.on("open", () => resolve());
      this.ws.on("error", reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.on("close", (code: number) => {
        this.closeCode = code;
        resolve(code);
        this.#wake?.();
      });
    });
    this.ws.on("message", (data: ArrayBuffer, isBinary: boolean) => {
      if (!isBinary) this.textFrames++;
      this.#decoder.push(new Uint8Array(data));
      for (let p = this.#decoder.next(); p !== undefined; p = this.#decoder.next()) {
        this.#inbox.push(p);
      }
      this.#wake?.();
    });
  }

  /** Send bytes as one binary frame (`fin: false` leaves the message open for continuation). */
  frame(data: Uint8Array, fin = true): void {
    this.ws.send(data, { binary: true, fin });
  }

  /** Encode a packet. */
  encode(packet: Packet): Uint8Array {
    return encodePacket(packet, this.version);
  }

  /** The next packet, which must be of `type`. */
  async next<N extends PacketName>(type: N, timeout = 2000): Promise<PacketOf<N>> {
    const deadline = Date.now() + timeout;
    while (this.#inbox.length === 0 && this.closeCode === undefined && Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, deadline - Date.now());
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
    const packet = this.#inbox.shift();
    if (packet === undefined) throw new Error(`Expected ${type}: closed or timed out`);
    assert.equal(packet.type, type);
    return packet as PacketOf<N>;
  }
}

async function wsUrl(t: TestContext): Promise<string> {
  const broker = await brokerFor(t, {
    listeners: [{ hostname: "127.0.0.1", port: 0, protocol: "websockets" }],
  });
  return `ws://127.0.0.1:${broker.addresses[0]!.port}/mqtt`;
}

async function peer(
  t: TestContext,
  url: string,
  version: ProtocolVersion,
  protocols?: string[],
): Promise<WsPeer> {
  const p = new WsPeer(url, version, protocols);
  t.after(() => p.ws.terminate());
  await p.opened;
  return p;
}

function connect(p: WsPeer, clientId: string): Uint8Array {
  return p.encode({
    type: "connect",
    protocolVersion: p.version,
    clientId,
    clean: true,
    keepAlive: 0,
  });
}

function subscribe(p: WsPeer, filter: string): Uint8Array {
  const subscription = p.version === 5
    ? {
      filter,
      qos: 0 as const,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0 as const,
    }
    : { filter, qos: 0 as const };
  return p.encode({ type: "subscribe", packetId: 1, subscriptions: [subscription] });
}

function publish(p: WsPeer, topic: string, payload: string): Uint8Array {
  return p.encode({
    type: "publish",
    topic,
    payload: new TextEncoder().encode(payload),
    qos: 0,
    retain: false,
    dup: false,
  });
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe("broker conformance: MQTT over WebSocket", () => {
  test(
    'startBroker() selects the "mqtt" WebSocket subprotocol [MQTT-6.0.0-4]',
    T,
    async (t) => {
      const url = await wsUrl(t);
      for (const offered of [["mqtt"], ["mqttv3.1", "mqtt"], ["chat", "mqtt"]]) {
        const p = await peer(t, url, 4, offered);
        assert.equal(p.ws.protocol, "mqtt");
      }
    },
  );

  for (const version of [4, 5] as const) {
    test(
      `startBroker() closes a WebSocket connection that sends a text frame, protocol level ${version} [MQTT-6.0.0-1]`,
      T,
      async (t) => {
        const url = await wsUrl(t);
        // Before CONNECT: a text frame carrying a CONNECT is refused too.
        const early = await peer(t, url, version);
        early.ws.send(new TextDecoder().decode(connect(early, "early")));
        assert.equal(await early.closed, 1003);
        // After CONNECT.
        const p = await peer(t, url, version);
        p.frame(connect(p, "texter"));
        assert.equal((await p.next("connack")).reasonCode, 0);
        assert.equal(p.textFrames, 0);
        p.ws.send("not binary");
        assert.equal(await p.closed, 1003); // unsupported data
      },
    );

    test(
      `startBroker() reads packets split across WebSocket frames and several packets in one frame, protocol level ${version} [MQTT-6.0.0-2]`,
      T,
      async (t) => {
        const url = await wsUrl(t);
        const p = await peer(t, url, version);
        // CONNECT one byte per frame.
        for (const byte of connect(p, "frames")) p.frame(new Uint8Array([byte]));
        assert.equal((await p.next("connack")).reasonCode, 0);
        // SUBSCRIBE, PUBLISH and PINGREQ in one frame.
        p.frame(
          concat(subscribe(p, "ws/#"), publish(p, "ws/1", "one"), p.encode({ type: "pingreq" })),
        );
        await p.next("suback");
        const first = await p.next("publish");
        assert.equal(first.topic, "ws/1");
        await p.next("pingresp");
        // A PUBLISH split across the frames of one fragmented message, the second frame
        // also carrying the start of the next PUBLISH, completed by its own frame.
        const a = publish(p, "ws/2", "two");
        const b = publish(p, "ws/3", "three");
        p.frame(a.subarray(0, 3), false);
        p.frame(concat(a.subarray(3), b.subarray(0, 4)));
        p.frame(b.subarray(4));
        assert.equal(new TextDecoder().decode((await p.next("publish")).payload), "two");
        assert.equal(new TextDecoder().decode((await p.next("publish")).payload), "three");
        assert.equal(p.closeCode, undefined);
        assert.equal(p.textFrames, 0);
      },
    );
  }
});
