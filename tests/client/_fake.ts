/**
 * A scripted broker for client tests: each connection is a memory pair whose server end
 * decodes packets and hands them to a handler that answers as the test wants (refusals,
 * limits in CONNACK, silence).
 *
 * @module
 */

import { Decoder, encodePacket, type Packet, type ProtocolVersion } from "../../protocol/mod.ts";
import type { Transport } from "../../client/options.ts";
import { memoryPair } from "../../socket/memory.ts";
import type { Socket } from "../../socket/types.ts";

/** One connection to the fake broker. */
export class FakeConnection {
  readonly socket: Socket;
  readonly received: Packet[] = [];
  version: ProtocolVersion = 5;

  constructor(socket: Socket) {
    this.socket = socket;
  }

  /** Send a packet to the client. */
  send(packet: Packet): void {
    this.socket.write(encodePacket(packet, this.version));
  }
}

/** Answers the packets of one connection. */
export type FakeHandler = (packet: Packet, connection: FakeConnection) => void;

/** A broker answering with a handler; `transport` connects a client to it. */
export class FakeBroker {
  readonly connections: FakeConnection[] = [];
  readonly transport: Transport;
  handler: FakeHandler;

  constructor(handler: FakeHandler) {
    this.handler = handler;
    this.transport = () => {
      const [server, client] = memoryPair();
      const connection = new FakeConnection(server);
      this.connections.push(connection);
      let decoder: Decoder | undefined;
      server.setHandlers({
        onData: (chunk) => {
          if (decoder === undefined) {
            decoder = new Decoder({ side: "server" });
          }
          decoder.push(chunk);
          for (let p = decoder.next(); p !== undefined; p = decoder.next()) {
            if (p.type === "connect") connection.version = p.protocolVersion;
            connection.received.push(p);
            this.handler(p, connection);
          }
        },
      });
      return Promise.resolve(client);
    };
  }

  /** Every packet received on every connection. */
  get received(): Packet[] {
    return this.connections.flatMap((c) => c.received);
  }

  /** Close every connection. */
  close(): void {
    for (const c of this.connections) c.socket.destroy();
  }
}

/** A handler that accepts CONNECT with `properties` and acknowledges everything. */
export function acceptAll(connack: Packet & { type: "connack" } = {
  type: "connack",
  sessionPresent: false,
  reasonCode: 0,
}): FakeHandler {
  return (packet, c) => {
    switch (packet.type) {
      case "connect":
        c.send(connack);
        break;
      case "publish":
        if (packet.qos === 1) c.send({ type: "puback", packetId: packet.packetId!, reasonCode: 0 });
        if (packet.qos === 2) c.send({ type: "pubrec", packetId: packet.packetId!, reasonCode: 0 });
        break;
      case "pubrel":
        c.send({ type: "pubcomp", packetId: packet.packetId, reasonCode: 0 });
        break;
      case "subscribe":
        c.send({
          type: "suback",
          packetId: packet.packetId,
          reasonCodes: packet.subscriptions.map((s) => s.qos),
        });
        break;
      case "unsubscribe":
        c.send({
          type: "unsuback",
          packetId: packet.packetId,
          reasonCodes: packet.filters.map(() => 0),
        });
        break;
      case "pingreq":
        c.send({ type: "pingresp" });
        break;
    }
  };
}
