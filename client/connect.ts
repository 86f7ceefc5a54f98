/**
 * `connect()` for Deno, Bun and Node: `mqtt:`/`mqtts:`/`unix:` use the runtime's TCP
 * adapter (loaded on demand), `ws:`/`wss:` the standard `WebSocket` (or the `webSocket`
 * option's, e.g. npm's `ws` on Node 20). Browsers use
 * `client/browser.ts`, which has the same API without the TCP path.
 *
 * @module
 */

import { loadTcpAdapter } from "../socket/runtime.ts";
import type { ConnectOptions } from "../socket/types.ts";
import type { MqttClient } from "./client.ts";
import { connectWith } from "./_connect.ts";
import type { ClientOptions, Transport } from "./options.ts";

const DEFAULT_PORTS: Record<string, number> = { "mqtt:": 1883, "tcp:": 1883, "mqtts:": 8883 };

function tcpTransport(url: URL, options: ClientOptions): Transport {
  const scheme = url.protocol;
  let connectOptions: ConnectOptions;
  if (scheme === "unix:") {
    const path = decodeURIComponent(url.pathname);
    if (path === "" || path === "/") {
      throw new TypeError(`Cannot connect to "${url}": no socket path`);
    }
    connectOptions = { hostname: "", port: 0, path };
  } else {
    const port = DEFAULT_PORTS[scheme];
    if (port === undefined) {
      throw new TypeError(
        `Cannot connect to "${url}": scheme "${scheme}" is not mqtt:, mqtts:, unix:, ws: or wss:`,
      );
    }
    connectOptions = {
      // URL keeps the brackets of an IPv6 literal.
      hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: url.port === "" ? port : Number(url.port),
    };
    if (scheme === "mqtts:") connectOptions.tls = options.tls ?? {};
    if (options.localAddress !== undefined) connectOptions.localAddress = options.localAddress;
  }
  return async ({ signal }) => {
    const adapter = await loadTcpAdapter();
    return await adapter.connect({ ...connectOptions, signal });
  };
}

/**
 * Connect to an MQTT broker. The URL picks the transport: `mqtt://host:1883` (TCP),
 * `mqtts://host:8883` (TLS, see the `tls` option), `unix:///path/to/socket` (a unix domain
 * socket, where the runtime's adapter has them), `ws://host/path` and `wss://host/path`
 * (WebSocket: the global `WebSocket`, or `options.webSocket`; Node 20 has no global, so pass
 * `WebSocket` from npm's `ws` package there). `options.transport` replaces the URL's
 * transport (e.g. an in-process memory socket).
 *
 * @example Connect to an in-process broker
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect } from "./connect.ts";
 * import { startBroker } from "../broker/mod.ts";
 *
 * const broker = await startBroker({ listeners: [{ hostname: "127.0.0.1", port: 0 }], sysInterval: 0 });
 * const client = await connect(`mqtt://127.0.0.1:${broker.addresses[0]!.port}`);
 * await client.publish("hello", "world", { qos: 1 });
 * await client.end();
 * await broker.close();
 * ```
 *
 * @example WebSocket on Node 20: pass `WebSocket` from npm's `ws` package
 * ```ts ignore
 * import { WebSocket } from "ws";
 * import { connect } from "./connect.ts";
 *
 * const client = await connect("ws://localhost:8080/mqtt", { webSocket: WebSocket });
 * await client.end();
 * ```
 *
 * @example A refused connection rejects with the reason code
 * ```ts
 * import assert from "node:assert/strict";
 * import { connect } from "./connect.ts";
 * import { ConnectRefusedError } from "./errors.ts";
 * import { startBroker } from "../broker/mod.ts";
 *
 * const broker = await startBroker({ listeners: [{ hostname: "127.0.0.1", port: 0 }], sysInterval: 0 });
 * const url = `mqtt://127.0.0.1:${broker.addresses[0]!.port}`;
 * // MQTT 3.1.1 refuses an empty client id that keeps a session (return code 2).
 * const error = await connect(url, { protocolVersion: 4, clientId: "", clean: false }).catch((e) => e);
 * assert.ok(error instanceof ConnectRefusedError);
 * assert.equal(error.reasonCode, 0x85);
 * await broker.close();
 * ```
 *
 * @param url `mqtt:`, `mqtts:`, `unix:`, `ws:` or `wss:` URL (user name and password may be
 *   in it).
 * @param options Client options.
 * @returns The connected client.
 */
export function connect(url: string | URL, options: ClientOptions = {}): Promise<MqttClient> {
  return connectWith(url, options, tcpTransport);
}
