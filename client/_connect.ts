// This module is browser compatible.
/**
 * Pick the transport from a URL: shared by `connect()` (every runtime) and the browser
 * entry (WebSocket only). The TCP opener is passed in, so this module never imports a
 * runtime adapter.
 *
 * @module
 */

import type { ConnectOptions, Socket } from "../socket/types.ts";
import { webSocketConnect } from "../socket/websocket.ts";
import { MqttClient } from "./client.ts";
import type { ClientOptions, Transport } from "./options.ts";

/** Opens a TCP (or TLS) connection; `undefined` where there is none (browsers). */
export type TcpOpener = ((options: ConnectOptions) => Promise<Socket>) | undefined;

const DEFAULT_PORTS: Record<string, number> = { "mqtt:": 1883, "tcp:": 1883, "mqtts:": 8883 };

/**
 * The transport for `url`, or `options.transport` when given.
 *
 * @param url `mqtt:`, `mqtts:`, `ws:` or `wss:` URL.
 * @param options Client options (TLS, WebSocket subprotocols, transport).
 * @param tcp Opens TCP connections, if the runtime can.
 * @returns The transport.
 * @throws {TypeError} When the URL is invalid or its scheme unsupported here.
 */
export function transportFor(url: string | URL, options: ClientOptions, tcp: TcpOpener): Transport {
  if (options.transport !== undefined) return options.transport;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new TypeError(`Cannot connect to "${url}": invalid URL`, { cause: error });
  }
  const scheme = parsed.protocol;
  if (scheme === "ws:" || scheme === "wss:") {
    const href = parsed.href;
    const protocols = options.webSocketProtocols;
    return ({ signal }) =>
      webSocketConnect(href, protocols === undefined ? { signal } : { signal, protocols });
  }
  const port = DEFAULT_PORTS[scheme];
  if (port === undefined) {
    throw new TypeError(
      `Cannot connect to "${url}": scheme "${scheme}" is not mqtt:, mqtts:, ws: or wss:`,
    );
  }
  if (tcp === undefined) {
    throw new TypeError(
      `Cannot connect to "${url}": this runtime has no TCP sockets, use ws: or wss:`,
    );
  }
  // URL keeps the brackets of an IPv6 literal.
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  const connectOptions: ConnectOptions = {
    hostname,
    port: parsed.port === "" ? port : Number(parsed.port),
  };
  if (scheme === "mqtts:") connectOptions.tls = options.tls ?? {};
  return ({ signal }) => tcp({ ...connectOptions, signal });
}

/**
 * Connect a client to `url` with the given TCP opener; user name and password in the URL
 * are used unless the options set them.
 *
 * @param url The broker URL.
 * @param options Client options.
 * @param tcp Opens TCP connections, if the runtime can.
 * @returns The connected client.
 */
export function connectWith(
  url: string | URL,
  options: ClientOptions,
  tcp: TcpOpener,
): Promise<MqttClient> {
  let transport: Transport;
  try {
    transport = transportFor(url, options, tcp);
  } catch (error) {
    return Promise.reject(error);
  }
  let merged = options;
  if (options.transport === undefined && options.username === undefined) {
    const parsed = new URL(url);
    if (parsed.username !== "") {
      merged = { ...options, username: decodeURIComponent(parsed.username) };
      if (parsed.password !== "" && options.password === undefined) {
        merged.password = decodeURIComponent(parsed.password);
      }
    }
  }
  return MqttClient.connect(transport, merged);
}
