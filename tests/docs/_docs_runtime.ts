/**
 * What an extracted documentation example runs against. Examples that connect to
 * `localhost:1883` (or `ws://localhost:8080`) get a broker this module starts on free ports in
 * the example's own process, and everything an example opened is closed by
 * {@linkcode docsCleanup}, which the harness appends to every example.
 *
 * @module
 */
import {
  type Broker,
  type BrokerOptions,
  startBroker as realStartBroker,
} from "../../broker/mod.ts";
import { type ClientOptions, connect as realConnect, type MqttClient } from "../../mod.ts";

const clients: MqttClient[] = [];
const brokers: Broker[] = [];
let local: Promise<{ tcp: number; ws: number }> | undefined;

function localBroker(): Promise<{ tcp: number; ws: number }> {
  local ??= (async () => {
    const broker = await realStartBroker({
      listeners: [
        { hostname: "127.0.0.1", port: 0 },
        { hostname: "127.0.0.1", port: 0, protocol: "websockets" },
      ],
    });
    brokers.push(broker);
    const tcp = broker.addresses.find((a) => a.transport === "tcp");
    const ws = broker.addresses.find((a) => a.transport === "websocket");
    if (tcp?.port === undefined || ws?.port === undefined) {
      throw new Error("Cannot start the docs broker: no TCP or WebSocket address");
    }
    return { tcp: tcp.port, ws: ws.port };
  })();
  return local;
}

/**
 * The URL of the local test broker (what fragments call `url`).
 *
 * @returns `mqtt://127.0.0.1:<port>`.
 */
export async function docsUrl(): Promise<string> {
  return `mqtt://127.0.0.1:${(await localBroker()).tcp}`;
}

/**
 * Map a documented broker address (`localhost`/`127.0.0.1`, any port) to the local test broker.
 *
 * @param url The URL the example gives.
 * @returns The URL to use.
 */
async function mapUrl(url: string | URL): Promise<string | URL> {
  const parsed = new URL(url);
  if (parsed.hostname !== "localhost" && parsed.hostname !== "127.0.0.1") return url;
  const ports = await localBroker();
  const ws = parsed.protocol === "ws:" || parsed.protocol === "wss:";
  parsed.hostname = "127.0.0.1";
  parsed.port = String(ws ? ports.ws : ports.tcp);
  return parsed;
}

/**
 * `connect()` of the package, against the local test broker for `localhost` URLs.
 *
 * @param url The URL the example gives.
 * @param options The client options.
 * @returns The connected client.
 */
export async function connect(url: string | URL, options?: ClientOptions): Promise<MqttClient> {
  const client = await realConnect(await mapUrl(url), options);
  clients.push(client);
  return client;
}

/**
 * `startBroker()` of the package; with no `listeners` it binds a free loopback port instead of
 * 1883, which may be taken here.
 *
 * @param options The broker options.
 * @returns The started broker.
 */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const broker = await realStartBroker(
    options.listeners === undefined
      ? { ...options, listeners: [{ hostname: "127.0.0.1", port: 0 }] }
      : options,
  );
  brokers.push(broker);
  return broker;
}

/**
 * End every client and close every broker the example opened (errors of ones it already
 * closed are ignored).
 *
 * @returns When everything is closed.
 */
export async function docsCleanup(): Promise<void> {
  for (const client of clients.splice(0).reverse()) client.destroy();
  for (const broker of brokers.splice(0).reverse()) await broker.close().catch(() => {});
}
