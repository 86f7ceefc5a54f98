// This module is browser compatible.
/**
 * Pick the transport from a URL: shared by `connect()` (every runtime) and the browser
 * entry (WebSocket only). Schemes other than `ws:`/`wss:` are handed to the runtime's
 * opener, passed in, so this module never imports a runtime adapter.
 *
 * @module
 */

import { webSocketConnect, type WebSocketConstructor } from "../socket/websocket.ts";
import { MqttClient } from "./client.ts";
import { ConnectionFailedError } from "./errors.ts";
import type { ClientOptions, Transport } from "./options.ts";

/**
 * The transport for a URL whose scheme is not `ws:`/`wss:` (TCP, TLS, unix sockets); throws
 * a `TypeError` for a scheme it does not know. `undefined` where there is none (browsers).
 */
export type TcpTransport = ((url: URL, options: ClientOptions) => Transport) | undefined;

/**
 * The transport for `url`, or `options.transport` when given.
 *
 * @param url A URL.
 * @param options Client options (TLS, WebSocket subprotocols and constructor, transport).
 * @param tcp Makes TCP (TLS, unix) transports, if the runtime can.
 * @returns The transport.
 * @throws {TypeError} When the URL is invalid or its scheme unsupported here.
 * @throws {ConnectionFailedError} For `ws:`/`wss:` without a `WebSocket` (option or global).
 */
export function transportFor(
  url: string | URL,
  options: ClientOptions,
  tcp: TcpTransport,
): Transport {
  if (options.transport !== undefined) return options.transport;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new TypeError(`Cannot connect to "${url}": invalid URL`, { cause: error });
  }
  const scheme = parsed.protocol;
  if (scheme === "ws:" || scheme === "wss:") {
    const webSocket = options.webSocket ??
      (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!webSocket) {
      const cause = new TypeError(
        `Cannot connect to "${url}": no global WebSocket, pass the "webSocket" option`,
      );
      throw new ConnectionFailedError(cause.message, { cause });
    }
    const href = parsed.href;
    return ({ signal }) =>
      webSocketConnect(href, { signal, protocols: options.webSocketProtocols, webSocket });
  }
  if (tcp === undefined) {
    throw new TypeError(`Cannot connect to "${url}": scheme "${scheme}" is not ws: or wss: here`);
  }
  return tcp(parsed, options);
}

/**
 * Connect a client to `url` with the given TCP transport maker; user name and password in
 * the URL are used unless the options set them.
 *
 * @param url The broker URL.
 * @param options Client options.
 * @param tcp Makes TCP (TLS, unix) transports, if the runtime can.
 * @returns The connected client.
 */
export function connectWith(
  url: string | URL,
  options: ClientOptions,
  tcp: TcpTransport,
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
