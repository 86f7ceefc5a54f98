/**
 * A WebSocket-to-TCP relay (npm's `ws`) in front of a broker's TCP listener, standing in
 * for a WebSocket listener of the broker: each WebSocket connection (subprotocol `mqtt`)
 * gets its own TCP connection, and bytes go both ways as binary frames.
 *
 * @module
 */

import { once } from "node:events";
import { connect, type Socket as TcpSocket } from "node:net";
import { type WebSocket, WebSocketServer } from "ws";

/** A running relay. */
export interface Relay {
  /** The `ws://` URL to connect to. */
  readonly url: string;
  /** The subprotocol agreed on each accepted WebSocket connection, in order. */
  readonly protocols: readonly string[];
  /** Bytes carried from WebSocket clients to the broker. */
  readonly bytesIn: number;
  /** Bytes carried from the broker to WebSocket clients. */
  readonly bytesOut: number;
  /** Stop listening and drop every connection. */
  close(): Promise<void>;
}

/** Where the relay forwards to. */
export interface RelayTarget {
  /** Host name or address. */
  hostname: string;
  /** TCP port. */
  port: number;
}

/**
 * Start a relay on 127.0.0.1, port 0.
 *
 * @param target The broker's TCP listener.
 * @returns The relay, listening.
 */
export async function startRelay(target: RelayTarget): Promise<Relay> {
  const server = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    path: "/mqtt",
    handleProtocols: (offered) => (offered.has("mqtt") ? "mqtt" : false),
  });
  const open = new Set<{ ws: WebSocket; tcp: TcpSocket }>();
  const protocols: string[] = [];
  let bytesIn = 0;
  let bytesOut = 0;
  server.on("connection", (ws) => {
    protocols.push(ws.protocol);
    const tcp = connect({ host: target.hostname, port: target.port });
    const pair = { ws, tcp };
    open.add(pair);
    tcp.on("data", (chunk: Uint8Array) => {
      bytesOut += chunk.byteLength;
      ws.send(chunk, { binary: true });
    });
    tcp.on("error", () => ws.terminate());
    tcp.on("close", () => {
      open.delete(pair);
      ws.close();
    });
    ws.on("message", (data: Uint8Array | ArrayBuffer | Uint8Array[], isBinary: boolean) => {
      if (!isBinary) {
        // MQTT over WebSocket is binary only (MQTT 5 §6).
        ws.close(1003, "binary frames only");
        return;
      }
      const parts = Array.isArray(data) ? data : [new Uint8Array(data)];
      for (const part of parts) {
        bytesIn += part.byteLength;
        tcp.write(part);
      }
    });
    ws.on("error", () => tcp.destroy());
    ws.on("close", () => tcp.end());
  });
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") {
    throw new TypeError("Cannot start relay: not listening on a TCP port");
  }
  return {
    url: `ws://127.0.0.1:${address.port}/mqtt`,
    protocols,
    get bytesIn() {
      return bytesIn;
    },
    get bytesOut() {
      return bytesOut;
    },
    close() {
      for (const { ws, tcp } of open) {
        ws.terminate();
        tcp.destroy();
      }
      open.clear();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
