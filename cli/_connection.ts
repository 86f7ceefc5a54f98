/**
 * What `mq pub`, `mq sub` and `mq rr` share: turning the parsed connection options into a
 * connected {@linkcode MqttClient}, mosquitto's error lines and exit codes, `-d` debug
 * lines (from a tap on the socket that decodes every packet as it crosses the wire, only
 * with `-d`), and colour.
 *
 * @module
 */

import { MqttClient } from "../client/client.ts";
import { ConnectionFailedError, ConnectRefusedError, TimeoutError } from "../client/errors.ts";
import type { ClientOptions, EndOptions } from "../client/options.ts";
import { Decoder } from "../protocol/decode.ts";
import type { Packet, ProtocolVersion } from "../protocol/packet.ts";
import type { Properties } from "../protocol/properties.ts";
import { loadTcpAdapter } from "../socket/runtime.ts";
import type { Socket, SocketHandlers, TlsOptions } from "../socket/types.ts";
import { webSocketConnect } from "../socket/websocket.ts";
import type { ClientCommand, ConnectionArgs } from "./_args.ts";
import type { CliHost, CliOutput } from "./host.ts";

/** MQTT 3.x CONNACK return codes by the MQTT 5 reason code the client reports. */
const V3_RETURN_CODES: Record<number, number> = {
  0x84: 1,
  0x85: 2,
  0x88: 3,
  0x86: 4,
  0x87: 5,
};

/** libmosquitto's `mosquitto_connack_string()` for MQTT 3.x return codes. */
const CONNACK_STRINGS: Record<number, string> = {
  1: "Connection Refused: unacceptable protocol version.",
  2: "Connection Refused: identifier rejected.",
  3: "Connection Refused: broker unavailable.",
  4: "Connection Refused: bad user name or password.",
  5: "Connection Refused: not authorised.",
};

/** libmosquitto's `mosquitto_reason_string()` for the MQTT 5 reason codes a client meets. */
const REASON_STRINGS: Record<number, string> = {
  0x80: "Unspecified error",
  0x81: "Malformed packet",
  0x82: "Protocol error",
  0x83: "Implementation specific error",
  0x84: "Unsupported protocol version",
  0x85: "Client identifier not valid",
  0x86: "Bad user name or password",
  0x87: "Not authorized",
  0x88: "Server unavailable",
  0x89: "Server busy",
  0x8a: "Banned",
  0x8c: "Bad authentication method",
  0x8f: "Topic filter invalid",
  0x90: "Topic name invalid",
  0x91: "Packet identifier in use",
  0x97: "Quota exceeded",
  0x99: "Payload format invalid",
  0x9a: "Retain not supported",
  0x9b: "QoS not supported",
  0x9c: "Use another server",
  0x9d: "Server moved",
  0x9e: "Shared subscriptions not supported",
  0x9f: "Connection rate exceeded",
  0xa1: "Subscription identifiers not supported",
  0xa2: "Wildcard subscriptions not supported",
};

/**
 * The text of an MQTT 5 reason code, as libmosquitto words it.
 *
 * @param code The reason code.
 * @returns The text.
 */
export function reasonString(code: number): string {
  return REASON_STRINGS[code] ?? `Unknown reason (${code})`;
}

/** Exit code when the connection was lost (MOSQ_ERR_CONN_LOST). */
export const EXIT_CONNECTION_LOST = 7;

/**
 * Whether colour escapes may be written to `stream`: a terminal, without `--no-color` or
 * a non-empty `NO_COLOR`.
 *
 * @param o The connection options.
 * @param host The runtime.
 * @param stream Standard output or standard error.
 * @returns Whether to colour.
 */
export function colorEnabled(o: ConnectionArgs, host: CliHost, stream: CliOutput): boolean {
  const noColor = host.env.NO_COLOR;
  return stream.isTTY && !o.noColor && (noColor === undefined || noColor === "");
}

/**
 * Print an error line on standard error unless `--quiet`; red on a terminal.
 *
 * @param o The connection options.
 * @param host The runtime.
 * @param line The line, without its newline.
 */
export function printError(o: ConnectionArgs, host: CliHost, line: string): void {
  if (o.quiet) return;
  const text = colorEnabled(o, host, host.stderr) ? `\x1b[31m${line}\x1b[0m` : line;
  host.stderr.writeText(`${text}\n`);
}

/** Options the commands give to {@linkcode openClient}. */
export interface OpenOptions {
  /** Reconnect after a lost connection (sub), or end (pub, rr). */
  reconnect: boolean;
  /** Messages no subscription matches. */
  onMessage?: ClientOptions["onMessage"];
  /** Let the client assign topic aliases (when `-D publish topic-alias` was given). */
  topicAliases?: boolean;
}

/** A connected client and the handles the commands need around it. */
export interface OpenClient {
  /** The client. */
  client: MqttClient;
  /** The client id used in debug lines. */
  clientId: string;
  /**
   * Disconnect with the `-D disconnect` properties (MQTT 5) and the given reason code;
   * never rejects.
   */
  end(options?: EndOptions): Promise<void>;
  /** Print a `-d` debug line. */
  debug(line: string): void;
  /** The packet id of the last SUBSCRIBE sent (seen with `-d` only), else 0. */
  readonly lastSubscribeId: number;
}

function bit(value: boolean | undefined): number {
  return value === true ? 1 : 0;
}

/** A `-d` line for a packet, in libmosquitto's words. */
function describe(packet: Packet, direction: "sending" | "received"): string[] {
  const d = direction;
  switch (packet.type) {
    case "connect":
      return [`${d} CONNECT`];
    case "connack":
      return [`${d} CONNACK (${packet.reasonCode})`];
    case "publish":
      return [
        `${d} PUBLISH (d${bit(packet.dup)}, q${packet.qos}, r${bit(packet.retain)}, m${
          packet.packetId ?? 0
        }, '${packet.topic}', ... (${packet.payload.length} bytes))`,
      ];
    case "puback":
    case "pubcomp":
      if (d === "received") {
        return [
          `${d} ${packet.type.toUpperCase()} (Mid: ${packet.packetId}, RC:${
            packet.reasonCode ?? 0
          })`,
        ];
      }
      return packet.type === "puback"
        ? [`${d} PUBACK (m${packet.packetId}, rc${packet.reasonCode ?? 0})`]
        : [`${d} PUBCOMP (m${packet.packetId})`];
    case "pubrec":
      return d === "received"
        ? [`${d} PUBREC (Mid: ${packet.packetId})`]
        : [`${d} PUBREC (m${packet.packetId}, rc${packet.reasonCode ?? 0})`];
    case "pubrel":
      return d === "received"
        ? [`${d} PUBREL (Mid: ${packet.packetId})`]
        : [`${d} PUBREL (m${packet.packetId})`];
    case "subscribe":
      return packet.subscriptions.map((s) => {
        const options = s.qos | (bit(s.noLocal) << 2) | (bit(s.retainAsPublished) << 3) |
          ((s.retainHandling ?? 0) << 4);
        return `${d} SUBSCRIBE (Mid: ${packet.packetId}, Topic: ${s.filter}, QoS: ${s.qos}, Options: 0x${
          options.toString(16).padStart(2, "0")
        })`;
      });
    case "unsubscribe":
      return packet.filters.map((f) => `${d} UNSUBSCRIBE (Mid: ${packet.packetId}, Topic: ${f})`);
    case "disconnect":
      return d === "received"
        ? [`${d} DISCONNECT (${packet.reasonCode ?? 0})`]
        : [`${d} DISCONNECT`];
    default:
      return [`${d} ${packet.type.toUpperCase()}`];
  }
}

/**
 * Wrap a socket so `-d` prints a line for every packet sent and received (decoded a second
 * time, off the client's path).
 */
function debugTap(
  socket: Socket,
  version: ProtocolVersion,
  debug: (line: string) => void,
  onSubscribe: (packetId: number) => void,
): Socket {
  const incoming = new Decoder({ side: "client", protocolVersion: version });
  const outgoing = new Decoder({ side: "server", protocolVersion: version });
  return {
    setHandlers(handlers: SocketHandlers): void {
      const onData = handlers.onData;
      socket.setHandlers(
        onData === undefined ? handlers : {
          ...handlers,
          onData: (chunk) => {
            if (incoming.error === undefined) {
              incoming.push(chunk);
              for (let p = incoming.next(); p !== undefined; p = incoming.next()) {
                for (const line of describe(p, "received")) debug(line);
              }
            }
            onData(chunk);
          },
        },
      );
    },
    write(data: Uint8Array): boolean {
      if (outgoing.error === undefined) {
        outgoing.push(data);
        for (let p = outgoing.next(); p !== undefined; p = outgoing.next()) {
          if (p.type === "subscribe") onSubscribe(p.packetId);
          for (const line of describe(p, "sending")) debug(line);
        }
      }
      return socket.write(data);
    },
    close: () => socket.close(),
    destroy: (error?: Error) => socket.destroy(error),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    get closed() {
      return socket.closed;
    },
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
    get encrypted() {
      return socket.encrypted;
    },
    get remoteAddress() {
      return socket.remoteAddress;
    },
    get localAddress() {
      return socket.localAddress;
    },
  };
}

function hasProperties(properties: Properties): boolean {
  for (const _ in properties) return true;
  return false;
}

/** Read the TLS files named on the command line into the socket's TLS options. */
async function tlsOptions(o: ConnectionArgs, host: CliHost): Promise<TlsOptions> {
  const decoder = new TextDecoder();
  const read = async (path: string) => decoder.decode(await host.readFile(path));
  const tls: TlsOptions = {};
  const ca: string[] = [];
  if (o.tls.cafile !== undefined) ca.push(await read(o.tls.cafile));
  if (o.tls.capath !== undefined) {
    if (host.readDir === undefined) throw new Error("Cannot read --capath: not supported here");
    for (const name of await host.readDir(o.tls.capath)) {
      const text = await read(`${o.tls.capath}/${name}`).catch(() => "");
      if (text.includes("-----BEGIN CERTIFICATE-----")) ca.push(text);
    }
  }
  if (ca.length > 0) tls.ca = ca;
  if (o.tls.cert !== undefined) tls.cert = await read(o.tls.cert);
  if (o.tls.key !== undefined) tls.key = await read(o.tls.key);
  if (o.tls.insecure) tls.insecure = true;
  if (o.tls.alpn !== undefined) tls.alpnProtocols = [o.tls.alpn];
  return tls;
}

/**
 * The options mq cannot honour, as one error line; `undefined` when all are supported.
 *
 * @param o The connection options.
 * @returns The error line, or `undefined`.
 */
export function unsupported(o: ConnectionArgs): string | undefined {
  const what = o.tls.psk !== undefined
    ? "--psk (TLS-PSK)"
    : o.tls.engine !== undefined || o.tls.keyform === "engine"
    ? "--tls-engine (OpenSSL engines)"
    : o.tls.ciphers !== undefined
    ? "--ciphers (OpenSSL cipher lists)"
    : o.proxy !== undefined
    ? "--proxy (SOCKS5 proxies)"
    : undefined;
  if (what === undefined) return undefined;
  return `Error: ${what} is not supported by mq`;
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The client id for the command: `-i`, else `-I` and the process id, else `mq-<cmd>-` and
 * random hex (mosquitto's clients let libmosquitto make a random one too).
 *
 * @param command The command.
 * @param o The connection options.
 * @param host The runtime.
 * @returns The client id.
 */
export function clientIdFor(command: ClientCommand, o: ConnectionArgs, host: CliHost): string {
  if (o.clientId !== undefined) return o.clientId;
  const pid = host.pid ?? 10_000 + Math.floor(Math.random() * 50_000);
  if (o.clientIdPrefix !== undefined) return `${o.clientIdPrefix}${pid}`;
  return `mq-${command}-${randomId()}`;
}

/**
 * Connect as the command line says. Prints mosquitto's error line and returns the exit
 * code when the connection fails or is refused.
 *
 * @param command The command.
 * @param o The parsed connection options.
 * @param host The runtime.
 * @param options Reconnection and hooks.
 * @returns The connected client, or an exit code.
 */
export async function openClient(
  command: ClientCommand,
  o: ConnectionArgs,
  host: CliHost,
  options: OpenOptions,
): Promise<OpenClient | number> {
  const refusal = unsupported(o);
  if (refusal !== undefined) {
    printError(o, host, refusal);
    return 1;
  }
  const version: ProtocolVersion = o.protocolVersion;
  const clientId = clientIdFor(command, o, host);
  const debug = (line: string): void => {
    if (o.debug) host.stderr.writeText(`Client ${clientId} ${line}\n`);
  };
  let tls: TlsOptions | undefined;
  if (o.useTls) {
    try {
      tls = await tlsOptions(o, host);
    } catch (error) {
      printError(o, host, `Error: Problem setting TLS options: ${(error as Error).message}`);
      return 1;
    }
  }
  const port = o.port ?? (o.useTls ? 8883 : 1883);
  const hostname = o.host;
  let lastSubscribeId = 0;
  const open = async (signal: AbortSignal): Promise<Socket> => {
    if (o.transport === "websockets") {
      const h = hostname.includes(":") ? `[${hostname}]` : hostname;
      return await webSocketConnect(`${o.useTls ? "wss" : "ws"}://${h}:${port}/mqtt`, {
        signal,
        protocols: ["mqtt"],
      });
    }
    const adapter = host.adapter ?? await loadTcpAdapter();
    // --unix: the client's unix:// transport, as the adapter's path option.
    if (o.unixSocket !== undefined) {
      return await adapter.connect({ hostname: "", port: 0, path: o.unixSocket, signal });
    }
    return await adapter.connect({
      hostname,
      port,
      signal,
      ...(o.bindAddress === undefined ? {} : { localAddress: o.bindAddress }),
      ...(tls === undefined ? {} : { tls: { serverName: hostname, ...tls } }),
    });
  };
  const transport = async ({ signal }: { signal: AbortSignal }): Promise<Socket> => {
    const socket = await open(signal);
    return o.debug ? debugTap(socket, version, debug, (id) => (lastSubscribeId = id)) : socket;
  };

  const clientOptions: ClientOptions = {
    protocolVersion: version,
    clientId,
    keepAlive: o.keepAlive,
    clean: o.cleanSession,
    transport,
    reconnect: options.reconnect ? { initialDelay: 1000, maxDelay: 1000 } : false,
    timeout: 2 ** 31 - 1,
    topicAliases: options.topicAliases === true,
  };
  if (o.username !== undefined) clientOptions.username = o.username;
  if (o.password !== undefined) clientOptions.password = o.password;
  if (version === 5) {
    const connect = { ...o.properties.connect };
    if (connect.sessionExpiryInterval !== undefined) {
      clientOptions.sessionExpiryInterval = connect.sessionExpiryInterval;
    }
    if (hasProperties(connect)) clientOptions.properties = connect;
  }
  if (o.will !== undefined) {
    clientOptions.will = {
      topic: o.will.topic,
      payload: o.will.payload,
      qos: o.will.qos,
      retain: o.will.retain,
    };
    if (version === 5 && hasProperties(o.properties.will)) {
      clientOptions.will.properties = o.properties.will;
    }
  }
  if (options.onMessage !== undefined) clientOptions.onMessage = options.onMessage;

  let client: MqttClient;
  try {
    client = await MqttClient.connect(transport, clientOptions);
  } catch (error) {
    return reportConnectError(error, o, host, command);
  }
  const disconnect = o.properties.disconnect;
  return {
    client,
    clientId,
    end(options: EndOptions = {}): Promise<void> {
      const end = version === 5 && hasProperties(disconnect)
        ? { ...options, properties: disconnect }
        : options;
      // A session expiry the client refuses (CONNECT had 0): disconnect without the properties.
      return client.end(end).catch(() => client.end({ ...options, abort: false })).catch(() => {});
    },
    debug,
    get lastSubscribeId() {
      return lastSubscribeId;
    },
  };
}

/**
 * Print mosquitto's line for a failed connection and return its exit code: the CONNACK
 * code itself for a refusal (the MQTT 3.x return code, or the MQTT 5 reason code), else 1.
 *
 * @param error What `connect()` rejected with.
 * @param o The connection options.
 * @param host The runtime.
 * @param command The command (rr words an unsupported version differently).
 * @returns The exit code.
 */
export function reportConnectError(
  error: unknown,
  o: ConnectionArgs,
  host: CliHost,
  command: ClientCommand,
): number {
  if (error instanceof ConnectRefusedError) {
    if (o.protocolVersion === 5) {
      let line = `Connection error: ${reasonString(error.reasonCode)}`;
      if (error.reasonCode === 0x84) {
        line += command === "rr"
          ? ". mosquitto_rr only supports connecting to an MQTT v5 broker"
          : ". Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.";
      }
      printError(o, host, line);
      return error.reasonCode;
    }
    const code = V3_RETURN_CODES[error.reasonCode] ?? 1;
    printError(o, host, `Connection error: ${CONNACK_STRINGS[code] ?? "Connection Refused"}`);
    return code;
  }
  if (error instanceof ConnectionFailedError) {
    const cause = error.cause instanceof Error ? error.cause.message : String(error.cause);
    printError(o, host, `Error: ${/refused/i.test(cause) ? "Connection refused" : cause}`);
    return 1;
  }
  if (error instanceof TimeoutError) {
    printError(o, host, "Error: Connection timed out");
    return 1;
  }
  printError(o, host, `Error: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
}

/** Signals the commands stop on, with the exit code a shell reports for them. */
export const STOP_SIGNALS = [["SIGINT", 130], ["SIGTERM", 143]] as const;
