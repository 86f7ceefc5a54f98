/**
 * mosquitto-compatible argument parsing for `mq pub`, `mq sub` and `mq rr`: the option
 * letters, long names, defaults and checks of mosquitto_pub/mosquitto_sub/mosquitto_rr
 * 2.x, options files (`-o FILE` and mosquitto's per-command default files), and typed
 * results ({@linkcode PubOptions}, {@linkcode SubOptions}, {@linkcode RrOptions}).
 *
 * Like mosquitto, each option is one argument (`-t a`, never `-ta` or `--topic=a`), short
 * flags cannot be combined (`-cd` is unknown), an option's value is taken verbatim even
 * when it starts with `-`, and there are no positional arguments (so `--` is unknown).
 *
 * @module
 */

import type { ProtocolVersion, QoS } from "../protocol/packet.ts";
import { isValidTopicFilter, isValidTopicName } from "../protocol/topic.ts";
import { checkFormat } from "./format.ts";
import { configDir } from "./host.ts";
import {
  addPropertyArg,
  type CommandProperties,
  emptyCommandProperties,
  propertyValueCount,
} from "./_property_arg.ts";

export type { CommandProperties, PropertyCommand } from "./_property_arg.ts";

/** A client subcommand. */
export type ClientCommand = "pub" | "sub" | "rr";

/**
 * Exit codes of the client commands, as mosquitto's. A refused connection exits with the
 * CONNACK code itself (5 for an MQTT 3.x "not authorised", 135 for MQTT 5's 0x87), as
 * mosquitto_pub/sub/rr 2.0.11 do.
 */
export const ExitCode = {
  /** Success. */
  Success: 0,
  /** Usage errors, unreadable files, connection failures. */
  Error: 1,
  /** `-W` timed out (MOSQ_ERR_TIMEOUT). */
  Timeout: 27,
} as const;
/** An exit code of the client commands. */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode];

/** How an option's value is read. */
export type OptionKind =
  | "flag"
  | "string"
  | "path"
  | "integer"
  | "number"
  | "qos"
  | "topic"
  | "filter"
  | "version"
  | "expiry"
  | "url"
  | "format"
  | "property"
  | "choice";

/** One option of the client commands. */
export interface OptionSpec {
  /** Every spelling, short first: `["-t", "--topic"]`. */
  readonly names: readonly string[];
  /** How the value is read. */
  readonly kind: OptionKind;
  /** The commands that accept it; others report it as unknown, as mosquitto does. */
  readonly commands: readonly ClientCommand[];
  /** Whether giving it again adds a value (`-t` for sub, `-T`, `-U`, `-D`). */
  readonly repeatable: boolean;
  /** The value's name in usage and errors (`"topic"`). Absent for flags. */
  readonly value?: string;
  /** The default, when it has one. */
  readonly default?: string | number | boolean;
  /** Inclusive range for numbers. */
  readonly min?: number;
  /** Inclusive range for numbers. */
  readonly max?: number;
  /** Allowed values for `"choice"`. */
  readonly choices?: readonly string[];
  /** One line of help. */
  readonly help: string;
  /** `true` for mq's additions that mosquitto 2.0 lacks. */
  readonly extension?: boolean;
}

const ALL: readonly ClientCommand[] = ["pub", "sub", "rr"];
const PUB: readonly ClientCommand[] = ["pub"];
const SUB: readonly ClientCommand[] = ["sub"];
const RR: readonly ClientCommand[] = ["rr"];
const PUB_RR: readonly ClientCommand[] = ["pub", "rr"];
const SUB_RR: readonly ClientCommand[] = ["sub", "rr"];

function opt(
  names: readonly string[],
  kind: OptionKind,
  commands: readonly ClientCommand[],
  help: string,
  extra: Partial<Omit<OptionSpec, "names" | "kind" | "commands" | "help">> = {},
): OptionSpec {
  return { names, kind, commands, help, repeatable: false, ...extra };
}

/** Every option of mq pub, mq sub and mq rr, in the order of mosquitto's help. */
export const CLIENT_OPTIONS: readonly OptionSpec[] = [
  opt(["-A"], "string", ALL, "bind the outgoing socket to this address", { value: "address" }),
  opt(["-c", "--disable-clean-session"], "flag", ALL, "keep the session (persistent client)", {
    default: false,
  }),
  opt(["-C"], "integer", SUB, "exit after receiving this many messages", {
    value: "count",
    min: 1,
  }),
  opt(["-d", "--debug"], "flag", ALL, "print debug messages", { default: false }),
  opt(["-D", "--property"], "property", ALL, "set an MQTT 5 property (implies -V 5)", {
    value: "command identifier value",
    repeatable: true,
  }),
  opt(["-e"], "topic", RR, "response topic to subscribe to and wait on", {
    value: "response topic",
  }),
  opt(["-E"], "flag", SUB, "exit once all subscriptions are acknowledged", { default: false }),
  opt(["-f", "--file"], "path", PUB_RR, "send the contents of a file as the message", {
    value: "file",
  }),
  opt(["-F"], "format", SUB_RR, "print messages with this format", { value: "format" }),
  opt(["--help"], "flag", ALL, "display this help"),
  opt(["-h", "--host"], "string", ALL, "broker host", { value: "host", default: "localhost" }),
  opt(["-i", "--id"], "string", ALL, "client id (default: mq-<cmd>- and random hex)", {
    value: "id",
  }),
  opt(["-I", "--id-prefix"], "string", ALL, "client id prefix, the process id appended", {
    value: "id prefix",
  }),
  opt(["-k", "--keepalive"], "integer", ALL, "keep alive in seconds", {
    value: "keepalive",
    min: 5,
    max: 65_535,
    default: 60,
  }),
  opt(["-L", "--url"], "url", ALL, "mqtt(s)://[user[:password]@]host[:port]/topic (also ws, wss)", {
    value: "URL",
  }),
  opt(["-l", "--stdin-line"], "flag", PUB, "send each line of standard input as a message"),
  opt(["-m", "--message"], "string", PUB_RR, "message payload to send", { value: "message" }),
  opt(["-M"], "integer", ALL, "maximum QoS 1/2 messages in flight", {
    value: "max_inflight",
    min: 1,
    max: 65_535,
    default: 20,
  }),
  opt(["-n", "--null-message"], "flag", PUB_RR, "send a zero-length message"),
  opt(["-N"], "flag", SUB_RR, "do not print a newline after each message"),
  opt(["-o"], "path", ALL, "read options from this file (one option per line)", {
    value: "options file",
  }),
  opt(["-p", "--port"], "integer", ALL, "broker port (default 1883, 8883 with TLS)", {
    value: "port",
    min: 0,
    max: 65_535,
  }),
  opt(["-P", "--pw"], "string", ALL, "password", { value: "password" }),
  opt(["-q", "--qos"], "qos", ALL, "quality of service: 0, 1 or 2", {
    value: "QoS",
    default: 0,
    min: 0,
    max: 2,
  }),
  opt(["--quiet"], "flag", ALL, "do not print error messages", { default: false }),
  opt(["-r", "--retain"], "flag", PUB, "retain the message", { default: false }),
  opt(["-R"], "flag", SUB_RR, "do not print stale (retained) messages", { default: false }),
  opt(["-s", "--stdin-file"], "flag", PUB_RR, "send all of standard input as one message"),
  opt(["-t", "--topic"], "topic", ALL, "topic (sub: filter, may be repeated)", {
    value: "topic",
  }),
  opt(["-T", "--filter-out"], "filter", SUB, "do not print topics matching this filter", {
    value: "topic filter",
    repeatable: true,
  }),
  opt(["-u", "--username"], "string", ALL, "user name", { value: "username" }),
  opt(["-U", "--unsubscribe"], "filter", SUB, "unsubscribe from this filter", {
    value: "unsubscribe topic",
    repeatable: true,
  }),
  opt(["-v", "--verbose"], "flag", SUB_RR, "print the topic before each payload", {
    default: false,
  }),
  opt(["-V", "--protocol-version"], "version", ALL, "mqttv5, mqttv311 or mqttv31 (5, 311, 31)", {
    value: "version",
    default: "311 (rr: 5)",
  }),
  opt(["--version"], "flag", ALL, "print the version"),
  opt(["-W"], "integer", SUB_RR, "exit with code 27 after this many seconds", {
    value: "timeout",
    min: 1,
  }),
  opt(["-x"], "expiry", ALL, "session expiry interval in seconds (-1 or ∞: never)", {
    value: "session expiry interval",
  }),
  opt(["--nodelay"], "flag", ALL, "disable Nagle's algorithm", { default: false }),
  opt(["--pretty"], "flag", SUB_RR, "indent JSON output (%j, %J, --json)", { default: false }),
  opt(["--random-filter"], "number", SUB, "print only this percentage of messages", {
    value: "chance",
    min: 0.1,
    max: 100,
    default: 100,
  }),
  opt(["--remove-retained"], "flag", SUB, "clear the retained messages received"),
  opt(["--repeat"], "integer", PUB, "publish the message this many times", {
    value: "count",
    min: 1,
    default: 1,
  }),
  opt(["--repeat-delay"], "number", PUB, "seconds between repeated publishes", {
    value: "time",
    min: 0,
    default: 0,
  }),
  opt(["--retain-as-published"], "flag", SUB_RR, "keep the retain flag of forwarded messages"),
  opt(["--retained-only"], "flag", SUB, "print only retained messages, exit at the first other"),
  opt(["--unix"], "path", ALL, "connect through this unix socket", { value: "socket path" }),
  opt(["--will-payload"], "string", ALL, "payload of the will", { value: "will payload" }),
  opt(["--will-qos"], "qos", ALL, "QoS of the will", {
    value: "will QoS",
    default: 0,
    min: 0,
    max: 2,
  }),
  opt(["--will-retain"], "flag", ALL, "retain the will", { default: false }),
  opt(["--will-topic"], "topic", ALL, "topic of the will", { value: "will topic" }),
  opt(["--cafile"], "path", ALL, "trusted CA certificates (enables TLS)", { value: "file" }),
  opt(["--capath"], "path", ALL, "directory of trusted CA certificates (enables TLS)", {
    value: "directory",
  }),
  opt(["--cert"], "path", ALL, "client certificate", { value: "file" }),
  opt(["--key"], "path", ALL, "client private key", { value: "file" }),
  opt(["--keyform"], "choice", ALL, "key type: pem or engine", {
    value: "keyform",
    choices: ["pem", "engine"],
  }),
  opt(["--ciphers"], "string", ALL, "OpenSSL cipher list", { value: "ciphers" }),
  opt(["--tls-version"], "choice", ALL, "tlsv1.3, tlsv1.2 or tlsv1.1", {
    value: "version",
    choices: ["tlsv1.3", "tlsv1.2", "tlsv1.1"],
  }),
  opt(["--tls-alpn"], "string", ALL, "TLS ALPN protocol", { value: "protocol" }),
  opt(["--tls-engine"], "string", ALL, "TLS engine (not supported by mq)", { value: "engine_id" }),
  opt(["--tls-engine-kpass-sha1"], "string", ALL, "engine key password SHA1", {
    value: "kpass sha1",
  }),
  opt(["--tls-use-os-certs"], "flag", ALL, "trust the operating system's CA certificates"),
  opt(["--insecure"], "flag", ALL, "do not check the server certificate's host name"),
  opt(["--psk"], "string", ALL, "TLS-PSK key in hex (not supported by every runtime)", {
    value: "key",
  }),
  opt(["--psk-identity"], "string", ALL, "TLS-PSK identity", { value: "identity" }),
  opt(["--proxy"], "string", ALL, "SOCKS5 proxy socks5h://[user[:password]@]host[:port]", {
    value: "proxy url",
  }),
  opt(["--json"], "flag", SUB_RR, "print one JSON object per message", {
    extension: true,
    default: false,
  }),
  opt(["--no-color"], "flag", ALL, "no colour on a terminal (also NO_COLOR)", {
    extension: true,
    default: false,
  }),
  opt(["--retain-handling"], "integer", SUB, "0 send retained, 1 only on new, 2 never", {
    extension: true,
    value: "retain handling",
    min: 0,
    max: 2,
  }),
  opt(["--latency"], "flag", RR, "print the round-trip time on standard error", {
    extension: true,
    default: false,
  }),
];

const BY_NAME = new Map<string, OptionSpec>();
for (const spec of CLIENT_OPTIONS) for (const name of spec.names) BY_NAME.set(name, spec);

/** TLS settings from the command line. */
export interface TlsArgs {
  /** `--cafile`. */
  cafile?: string;
  /** `--capath`. */
  capath?: string;
  /** `--cert`. */
  cert?: string;
  /** `--key`. */
  key?: string;
  /** `--keyform`. */
  keyform?: "pem" | "engine";
  /** `--ciphers`. */
  ciphers?: string;
  /** `--tls-version`. */
  version?: "tlsv1.3" | "tlsv1.2" | "tlsv1.1";
  /** `--tls-alpn`. */
  alpn?: string;
  /** `--tls-engine`. */
  engine?: string;
  /** `--tls-engine-kpass-sha1`. */
  engineKpassSha1?: string;
  /** `--psk`. */
  psk?: string;
  /** `--psk-identity`. */
  pskIdentity?: string;
  /** `--insecure`. */
  insecure: boolean;
  /** `--tls-use-os-certs`, or implied by `mqtts://`/`wss://` URLs. */
  useOsCerts: boolean;
}

/** The will message, from `--will-*`. */
export interface WillArgs {
  /** `--will-topic`. */
  topic: string;
  /** `--will-payload` (empty when not given). */
  payload: Uint8Array;
  /** `--will-qos`. */
  qos: QoS;
  /** `--will-retain`. */
  retain: boolean;
}

/** Where a pub/rr message comes from. */
export type MessageSource =
  | { kind: "message"; payload: Uint8Array }
  | { kind: "file"; path: string }
  | { kind: "stdin" }
  | { kind: "lines" }
  | { kind: "null" };

/** Options every client command shares: the connection. */
export interface ConnectionArgs {
  /** `-h`, or the host of `-L`. Default `"localhost"`. */
  host: string;
  /** `-p`; `undefined` means 1883, or 8883 with TLS. */
  port?: number;
  /** `--unix`: a unix socket path instead of host and port. */
  unixSocket?: string;
  /** `ws://` or `wss://` in `-L` selects WebSockets. */
  transport: "tcp" | "websockets";
  /** Whether TLS is on: `--cafile`, `--capath`, `--psk`, `--tls-use-os-certs`, or `mqtts://`. */
  useTls: boolean;
  /** `-A`. */
  bindAddress?: string;
  /** `-i`. */
  clientId?: string;
  /** `-I`. */
  clientIdPrefix?: string;
  /** `-k`, seconds. Default 60. */
  keepAlive: number;
  /** `false` with `-c`. */
  cleanSession: boolean;
  /** `-x`, or 0xFFFFFFFF for `-c` under MQTT 5; `undefined` when unset. */
  sessionExpiryInterval?: number;
  /** `-u`. */
  username?: string;
  /** `-P`. */
  password?: string;
  /** `-V`: 3 (3.1), 4 (3.1.1) or 5. Default 4, 5 for rr and after `-D`. */
  protocolVersion: ProtocolVersion;
  /** `-q`. Default 0. */
  qos: QoS;
  /** `-M`. Default 20. */
  maxInflight: number;
  /** `--nodelay`. */
  nodelay: boolean;
  /** `-d`. */
  debug: boolean;
  /** `--quiet`. */
  quiet: boolean;
  /** `--no-color`. (`NO_COLOR` and TTY detection are the command's business.) */
  noColor: boolean;
  /** `--proxy`. */
  proxy?: string;
  /** TLS settings. */
  tls: TlsArgs;
  /** The will, when `--will-topic` is given. */
  will?: WillArgs;
  /** `-D` properties per packet. */
  properties: CommandProperties;
}

/** Output options of sub and rr. */
export interface OutputArgs {
  /** `-v`. */
  verbose: boolean;
  /** `false` with `-N`. */
  eol: boolean;
  /** `-F`. */
  format?: string;
  /** `--pretty`. */
  pretty: boolean;
  /** `--json` (mq). */
  json: boolean;
  /** `-R`: ignore retained messages. */
  noRetained: boolean;
  /** `--retain-as-published`. */
  retainAsPublished: boolean;
  /** `-W`, seconds. */
  timeout?: number;
}

/** The options of `mq pub`. */
export interface PubOptions extends ConnectionArgs {
  /** Always `"pub"`. */
  command: "pub";
  /** `-t`. */
  topic: string;
  /** `-m`, `-f`, `-s`, `-l` or `-n`. */
  message: MessageSource;
  /** `-r`. */
  retain: boolean;
  /** `--repeat`. Default 1. */
  repeat: number;
  /** `--repeat-delay`, in milliseconds. Default 0. */
  repeatDelay: number;
}

/** The options of `mq sub`. */
export interface SubOptions extends ConnectionArgs, OutputArgs {
  /** Always `"sub"`. */
  command: "sub";
  /** `-t`, in order. */
  topics: string[];
  /** `-U`, in order. */
  unsubscribe: string[];
  /** `-T`, in order. */
  filterOut: string[];
  /** `-C`. */
  count?: number;
  /** `-E`. */
  exitAfterSubscribe: boolean;
  /** `--retained-only`. */
  retainedOnly: boolean;
  /** `--remove-retained`. */
  removeRetained: boolean;
  /** `--random-filter`, percent. Default 100. */
  randomFilter: number;
  /** `--retain-handling` (mq). */
  retainHandling?: 0 | 1 | 2;
}

/** The options of `mq rr`. */
export interface RrOptions extends ConnectionArgs, OutputArgs {
  /** Always `"rr"`. */
  command: "rr";
  /** `-t`: where the request goes. */
  topic: string;
  /** `-e`: where the response comes. */
  responseTopic: string;
  /** `-m`, `-f`, `-s` or `-n`. */
  message: MessageSource;
  /** `--latency` (mq). */
  latency: boolean;
}

/** The typed options of each client command. */
export interface ClientOptionsMap {
  /** `mq pub`. */
  pub: PubOptions;
  /** `mq sub`. */
  sub: SubOptions;
  /** `mq rr`. */
  rr: RrOptions;
}

/** What parsing produced: options, a request for help or the version, or a usage error. */
export type ParseResult<T> =
  | { kind: "options"; options: T }
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "error"; message: string; exitCode: number };

/** What parsing needs from the host: the environment and file reading (a `CliHost` fits). */
export interface ArgsContext {
  /** Environment variables (`XDG_CONFIG_HOME`, `HOME`, `USERPROFILE`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The operating system, for the default options file location. */
  readonly platform: string;
  /** Read a file. */
  readFile(path: string): Promise<Uint8Array>;
}

class UsageError extends Error {
  override name = "UsageError";
}

interface State {
  command: ClientCommand;
  o: Record<string, unknown>;
  conn: ConnectionArgs;
  message?: MessageSource;
  topic?: string;
  topics: string[];
  willTopic?: string;
  willPayload?: Uint8Array;
  willQos: QoS;
  willRetain: boolean;
  help: boolean;
  version: boolean;
}

const MAX_PAYLOAD = 268_435_455;
const encoder = new TextEncoder();

function parseInteger(spec: OptionSpec, value: string, name: string): number {
  const n = /^[+-]?\d+$/.test(value) ? Number(value) : Number.NaN;
  const min = spec.min ?? Number.NEGATIVE_INFINITY;
  const max = spec.max ?? Number.POSITIVE_INFINITY;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`Invalid ${spec.value ?? name} "${value}" for ${name}: ${range(spec)}`);
  }
  return n;
}

function range(spec: OptionSpec): string {
  if (spec.max === undefined) return `it must be a number of at least ${spec.min}`;
  return `it must be between ${spec.min} and ${spec.max} inclusive`;
}

function setMessage(s: State, source: MessageSource): void {
  if (s.message !== undefined) {
    throw new UsageError("Only one type of message can be sent at once");
  }
  s.message = source;
}

function addTopic(s: State, topic: string): void {
  if (s.command === "sub") {
    if (!isValidTopicFilter(topic)) {
      throw new UsageError(
        `Invalid subscription topic '${topic}', are all '+' and '#' wildcards correct?`,
      );
    }
    s.topics.push(topic);
    return;
  }
  if (!isValidTopicName(topic)) {
    throw new UsageError(
      `Invalid publish topic '${topic}', does it contain '+' or '#'?`,
    );
  }
  s.topic = topic;
}

function parseUrl(s: State, value: string): void {
  const m = /^(mqtts?|wss?):\/\/([^/]*)\/(.*)$/is.exec(value);
  if (m === null) {
    if (!/^(mqtts?|wss?):\/\//i.test(value)) throw new UsageError("Unsupported URL scheme");
    throw new UsageError("Invalid URL for -L argument specified - topic missing");
  }
  const scheme = m[1]!.toLowerCase();
  let authority = m[2]!;
  const secure = scheme === "mqtts" || scheme === "wss";
  s.conn.port = secure ? 8883 : 1883;
  if (secure) {
    s.conn.useTls = true;
    s.conn.tls.useOsCerts = true;
  }
  if (scheme.startsWith("ws")) s.conn.transport = "websockets";
  addTopic(s, m[3]!);
  const at = authority.indexOf("@");
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    authority = authority.slice(at + 1);
    const colon = userinfo.indexOf(":");
    if (colon >= 0) {
      s.conn.username = userinfo.slice(0, colon);
      s.conn.password = userinfo.slice(colon + 1);
    } else s.conn.username = userinfo;
  }
  const colon = authority.indexOf(":");
  if (colon >= 0) {
    const port = authority.slice(colon + 1);
    authority = authority.slice(0, colon);
    s.conn.port = parseInteger(BY_NAME.get("-p")!, port, "-L port");
  }
  s.conn.host = authority;
}

function parseExpiry(value: string): number {
  if (value === "∞") return 0xffff_ffff;
  let n = Number.NaN;
  if (/^-?\d+$/.test(value)) n = Number(value);
  else if (/^0x[0-9a-f]+$/i.test(value)) n = Number.parseInt(value.slice(2), 16);
  if (Number.isNaN(n)) throw new UsageError("session-expiry-interval not a number");
  if (n < -1 || n > 0xffff_ffff) throw new UsageError("session-expiry-interval out of range");
  return n === -1 ? 0xffff_ffff : n;
}

function parseVersion(value: string): ProtocolVersion {
  switch (value) {
    case "mqttv31":
    case "31":
      return 3;
    case "mqttv311":
    case "311":
      return 4;
    case "mqttv5":
    case "5":
      return 5;
  }
  throw new UsageError(`Invalid protocol version "${value}": use mqttv5, mqttv311 or mqttv31`);
}

/** Apply one option with its values to the state. */
function apply(s: State, spec: OptionSpec, name: string, values: readonly string[]): void {
  const value = values[0]!;
  const c = s.conn;
  const key = spec.names[spec.names.length - 1]!;
  switch (key) {
    case "-A":
      c.bindAddress = value;
      return;
    case "--disable-clean-session":
      c.cleanSession = false;
      return;
    case "-C":
      s.o.count = parseInteger(spec, value, name);
      return;
    case "--debug":
      c.debug = true;
      return;
    case "--property": {
      const error = addPropertyArg(c.properties, values);
      if (error !== undefined) throw new UsageError(error);
      c.protocolVersion = 5;
      return;
    }
    case "-e":
      if (!isValidTopicName(value)) {
        throw new UsageError(`Invalid response topic '${value}', does it contain '+' or '#'?`);
      }
      s.o.responseTopic = value;
      return;
    case "-E":
      s.o.exitAfterSubscribe = true;
      return;
    case "--file":
      setMessage(s, { kind: "file", path: value });
      return;
    case "-F": {
      const error = checkFormat(value);
      if (error !== undefined) throw new UsageError(error);
      s.o.format = value;
      return;
    }
    case "--help":
      s.help = true;
      return;
    case "--host":
      c.host = value;
      return;
    case "--id":
      if (c.clientIdPrefix !== undefined) {
        throw new UsageError("-i and -I argument cannot be used together");
      }
      c.clientId = value;
      return;
    case "--id-prefix":
      if (c.clientId !== undefined) {
        throw new UsageError("-i and -I argument cannot be used together");
      }
      c.clientIdPrefix = value;
      return;
    case "--keepalive":
      c.keepAlive = parseInteger(spec, value, name);
      return;
    case "--url":
      parseUrl(s, value);
      return;
    case "--stdin-line":
      setMessage(s, { kind: "lines" });
      return;
    case "--message": {
      const payload = encoder.encode(value);
      if (payload.length > MAX_PAYLOAD) {
        throw new UsageError(`Message length must be less than ${MAX_PAYLOAD} bytes`);
      }
      setMessage(s, { kind: "message", payload });
      return;
    }
    case "-M":
      c.maxInflight = parseInteger(spec, value, name);
      return;
    case "--null-message":
      setMessage(s, { kind: "null" });
      return;
    case "-N":
      s.o.eol = false;
      return;
    case "-o":
      return; // read before everything else
    case "--port":
      c.port = parseInteger(spec, value, name);
      return;
    case "--pw":
      c.password = value;
      return;
    case "--qos":
      c.qos = parseInteger(spec, value, name) as QoS;
      return;
    case "--quiet":
      c.quiet = true;
      return;
    case "--retain":
      s.o.retain = true;
      return;
    case "-R":
      s.o.noRetained = true;
      return;
    case "--stdin-file":
      setMessage(s, { kind: "stdin" });
      return;
    case "--topic":
      addTopic(s, value);
      return;
    case "--filter-out":
    case "--unsubscribe": {
      const what = key === "--filter-out" ? "filter" : "unsubscribe";
      if (!isValidTopicFilter(value)) {
        throw new UsageError(
          `Invalid ${what} topic '${value}', are all '+' and '#' wildcards correct?`,
        );
      }
      (s.o[key === "--filter-out" ? "filterOut" : "unsubscribe"] as string[]).push(value);
      return;
    }
    case "--username":
      c.username = value;
      return;
    case "--verbose":
      s.o.verbose = true;
      return;
    case "--protocol-version":
      c.protocolVersion = parseVersion(value);
      return;
    case "--version":
      s.version = true;
      return;
    case "-W":
      s.o.timeout = parseInteger(spec, value, name);
      return;
    case "-x":
      c.sessionExpiryInterval = parseExpiry(value);
      return;
    case "--nodelay":
      c.nodelay = true;
      return;
    case "--pretty":
      s.o.pretty = true;
      return;
    case "--random-filter":
    case "--repeat-delay": {
      const n = /^\d+(\.\d*)?$|^\.\d+$/.test(value) ? Number(value) : Number.NaN;
      if (!(n >= spec.min! && n <= (spec.max ?? Number.POSITIVE_INFINITY))) {
        throw new UsageError(
          key === "--repeat-delay"
            ? `Invalid time "${value}" for --repeat-delay: it must be >=0.0`
            : `Invalid chance "${value}" for --random-filter: it must be between 0.1-100.0`,
        );
      }
      if (key === "--repeat-delay") s.o.repeatDelay = Math.round(n * 1000);
      else s.o.randomFilter = n;
      return;
    }
    case "--remove-retained":
      s.o.removeRetained = true;
      return;
    case "--repeat":
      s.o.repeat = parseInteger(spec, value, name);
      return;
    case "--retain-as-published":
      s.o.retainAsPublished = true;
      return;
    case "--retained-only":
      s.o.retainedOnly = true;
      return;
    case "--unix":
      c.unixSocket = value;
      c.host = value;
      c.port = 0;
      return;
    case "--will-payload":
      s.willPayload = encoder.encode(value);
      return;
    case "--will-qos":
      s.willQos = parseInteger(spec, value, name) as QoS;
      return;
    case "--will-retain":
      s.willRetain = true;
      return;
    case "--will-topic":
      if (!isValidTopicName(value)) {
        throw new UsageError(`Invalid will topic '${value}', does it contain '+' or '#'?`);
      }
      s.willTopic = value;
      return;
    case "--cafile":
      c.tls.cafile = value;
      return;
    case "--capath":
      c.tls.capath = value;
      return;
    case "--cert":
      c.tls.cert = value;
      return;
    case "--key":
      c.tls.key = value;
      return;
    case "--keyform":
    case "--tls-version":
      if (!spec.choices!.includes(value)) {
        throw new UsageError(
          `Invalid ${spec.value} "${value}" for ${name}: use ${spec.choices!.join(", ")}`,
        );
      }
      if (key === "--keyform") c.tls.keyform = value as "pem" | "engine";
      else c.tls.version = value as "tlsv1.3" | "tlsv1.2" | "tlsv1.1";
      return;
    case "--ciphers":
      c.tls.ciphers = value;
      return;
    case "--tls-alpn":
      c.tls.alpn = value;
      return;
    case "--tls-engine":
      c.tls.engine = value;
      return;
    case "--tls-engine-kpass-sha1":
      c.tls.engineKpassSha1 = value;
      return;
    case "--tls-use-os-certs":
      c.tls.useOsCerts = true;
      return;
    case "--insecure":
      c.tls.insecure = true;
      return;
    case "--psk":
      if (!/^[0-9a-f]+$/i.test(value)) {
        throw new UsageError(`Invalid key "${value}" for --psk: it must be hexadecimal`);
      }
      c.tls.psk = value;
      return;
    case "--psk-identity":
      c.tls.pskIdentity = value;
      return;
    case "--proxy":
      if (!value.startsWith("socks5h://")) {
        throw new UsageError(`Unsupported proxy protocol: ${value}`);
      }
      c.proxy = value;
      return;
    case "--json":
      s.o.json = true;
      return;
    case "--no-color":
      c.noColor = true;
      return;
    case "--retain-handling":
      s.o.retainHandling = parseInteger(spec, value, name);
      return;
    case "--latency":
      s.o.latency = true;
      return;
  }
  throw new TypeError(`Cannot apply option "${name}": no handler`);
}

/** Process one sequence of arguments: an options-file line, or the command line. */
function processArgs(s: State, args: readonly string[]): void {
  for (let i = 0; i < args.length; i++) {
    const name = args[i]!;
    const spec = BY_NAME.get(name);
    if (spec === undefined || !spec.commands.includes(s.command)) {
      throw new UsageError(`Unknown option '${name}'`);
    }
    if (spec.kind === "flag") {
      apply(s, spec, name, []);
      continue;
    }
    let count = 1;
    if (spec.kind === "property") {
      const property = args[i + 2];
      count = 2 + (property === undefined ? 1 : propertyValueCount(property));
    }
    const values = args.slice(i + 1, i + 1 + count);
    if (values.length < count) {
      if (spec.kind === "property") {
        throw new UsageError("--property argument given but not enough arguments specified");
      }
      throw new UsageError(`${name} argument given but no ${spec.value} specified`);
    }
    apply(s, spec, name, values);
    i += count;
  }
}

/**
 * Split the text of an options file into argument lists, one per line: lines starting
 * with `#` and empty lines are skipped; a line is the option, a space, and the rest of the
 * line as its value (so values may contain spaces). `-D`/`--property` values are split
 * on spaces into command, identifier and value (the value keeps its spaces), a deliberate
 * difference from mosquitto, where `-D` cannot be used in options files.
 *
 * @example Two options
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitOptionsFile } from "./_args.ts";
 * assert.deepEqual(splitOptionsFile("# comment\n-h broker.local\n-t a b\n"), [
 *   ["-h", "broker.local"],
 *   ["-t", "a b"],
 * ]);
 * ```
 *
 * @param text The file's text.
 * @returns One argument list per line.
 */
export function splitOptionsFile(text: string): string[][] {
  const lines: string[][] = [];
  for (const raw of text.split("\n")) {
    if (raw.startsWith("#")) continue;
    const line = raw.replace(/[\r\n]+$/, "");
    const trimmed = line.replace(/^ +/, "");
    if (trimmed === "") continue;
    const space = trimmed.indexOf(" ");
    if (space < 0) {
      lines.push([trimmed]);
      continue;
    }
    const name = trimmed.slice(0, space);
    const rest = trimmed.slice(space + 1);
    if (rest === "") lines.push([name]);
    else if (name === "-D" || name === "--property") {
      const m = /^(\S+) +(\S+) +(.*)$/.exec(rest);
      if (m === null) lines.push([name, ...rest.split(/ +/)]);
      else if (m[2]!.toLowerCase() === "user-property") {
        const pair = /^(\S+) +(.*)$/.exec(m[3]!);
        lines.push([name, m[1]!, m[2]!, ...(pair === null ? [m[3]!] : [pair[1]!, pair[2]!])]);
      } else lines.push([name, m[1]!, m[2]!, m[3]!]);
    } else lines.push([name, rest]);
  }
  return lines;
}

/**
 * Where mosquitto (and mq) look for a command's default options file:
 * `$XDG_CONFIG_HOME/mosquitto_pub`, else `$HOME/.config/mosquitto_pub`; on Windows
 * `%USERPROFILE%\mosquitto_pub.conf`. Likewise `mosquitto_sub` and `mosquitto_rr`.
 *
 * @example The XDG location
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultOptionsFile } from "./_args.ts";
 * assert.equal(
 *   defaultOptionsFile("sub", { env: { HOME: "/home/pi" }, platform: "linux" }),
 *   "/home/pi/.config/mosquitto_sub",
 * );
 * ```
 *
 * @param command The client command.
 * @param context The environment and platform.
 * @returns The path, or `undefined` when no home directory is known.
 */
export function defaultOptionsFile(
  command: ClientCommand,
  context: Pick<ArgsContext, "env" | "platform">,
): string | undefined {
  const dir = configDir(context.env, context.platform);
  if (dir === undefined) return undefined;
  return context.platform === "win32"
    ? `${dir}\\mosquitto_${command}.conf`
    : `${dir}/mosquitto_${command}`;
}

function newState(command: ClientCommand): State {
  const o: Record<string, unknown> = { command };
  if (command !== "pub") {
    Object.assign(o, {
      verbose: false,
      eol: true,
      pretty: false,
      json: false,
      noRetained: false,
      retainAsPublished: false,
    });
  }
  if (command === "pub") Object.assign(o, { retain: false, repeat: 1, repeatDelay: 0 });
  if (command === "sub") {
    Object.assign(o, {
      unsubscribe: [],
      filterOut: [],
      exitAfterSubscribe: false,
      retainedOnly: false,
      removeRetained: false,
      randomFilter: 100,
    });
  }
  if (command === "rr") o.latency = false;
  return {
    command,
    o,
    topics: [],
    willQos: 0,
    willRetain: false,
    help: false,
    version: false,
    conn: {
      host: "localhost",
      transport: "tcp",
      useTls: false,
      keepAlive: 60,
      cleanSession: true,
      protocolVersion: command === "rr" ? 5 : 4,
      qos: 0,
      maxInflight: 20,
      nodelay: false,
      debug: false,
      quiet: false,
      noColor: false,
      tls: { insecure: false, useOsCerts: false },
      properties: emptyCommandProperties(),
    },
  };
}

/** The checks mosquitto makes once every option is read, then the typed result. */
function finish(s: State): ClientOptionsMap[ClientCommand] {
  const c = s.conn;
  if (s.willPayload !== undefined && s.willTopic === undefined) {
    throw new UsageError("Will payload given, but no will topic given");
  }
  if (s.willRetain && s.willTopic === undefined) {
    throw new UsageError("Will retain given, but no will topic given");
  }
  if (s.willTopic !== undefined) {
    c.will = {
      topic: s.willTopic,
      payload: s.willPayload ?? new Uint8Array(0),
      qos: s.willQos,
      retain: s.willRetain,
    };
  }
  const tls = c.tls;
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new UsageError("Both certfile and keyfile must be provided if one of them is set");
  }
  if (tls.keyform !== undefined && tls.key === undefined) {
    throw new UsageError("If keyform is set, keyfile must be also specified");
  }
  if (
    tls.engineKpassSha1 !== undefined && (tls.keyform === undefined || tls.engine === undefined)
  ) {
    throw new UsageError(
      "when using tls-engine-kpass-sha1, both tls-engine and keyform must also be provided",
    );
  }
  if ((tls.cafile !== undefined || tls.capath !== undefined) && tls.psk !== undefined) {
    throw new UsageError("Only one of --psk or --cafile/--capath may be used at once");
  }
  if (tls.psk !== undefined && tls.pskIdentity === undefined) {
    throw new UsageError("--psk-identity required if --psk used");
  }
  if (
    tls.cafile !== undefined || tls.capath !== undefined || tls.psk !== undefined ||
    tls.useOsCerts
  ) c.useTls = true;
  const anonymous = c.clientIdPrefix !== undefined || c.clientId === undefined;
  if (c.protocolVersion === 5) {
    if (!c.cleanSession && c.sessionExpiryInterval === undefined) {
      c.sessionExpiryInterval = 0xffff_ffff;
    }
    if (c.sessionExpiryInterval === 0xffff_ffff && anonymous) {
      throw new UsageError(
        "You must provide a client id if you are using an infinite session expiry interval",
      );
    }
    if (c.sessionExpiryInterval !== undefined && c.sessionExpiryInterval > 0) {
      c.properties.connect.sessionExpiryInterval = c.sessionExpiryInterval;
    }
  } else if (!c.cleanSession && anonymous) {
    throw new UsageError("You must provide a client id if you are using the -c option");
  }
  if (s.command === "sub") {
    if (s.topics.length === 0 && (s.o.unsubscribe as string[]).length === 0) {
      throw new UsageError(
        "You must specify a topic to subscribe to (-t) or unsubscribe from (-U)",
      );
    }
    if (s.o.noRetained === true && s.o.retainedOnly === true) {
      throw new UsageError("Combining '-R' and '--retained-only' makes no sense");
    }
    return { ...c, ...s.o, topics: s.topics } as unknown as SubOptions;
  }
  if (s.command === "pub") {
    if (s.topic === undefined || s.message === undefined) {
      throw new UsageError("Both topic and message must be supplied");
    }
    return { ...c, ...s.o, topic: s.topic, message: s.message } as unknown as PubOptions;
  }
  if (s.topic === undefined || s.message === undefined || s.o.responseTopic === undefined) {
    throw new UsageError("All of topic, message, and response topic must be supplied");
  }
  return { ...c, ...s.o, topic: s.topic, message: s.message } as unknown as RrOptions;
}

/**
 * Parse the arguments of a client command, with the options files already split into
 * lines (see {@linkcode splitOptionsFile}); the lines are processed first, each on its
 * own, then the command line. Synchronous and without I/O, for tests and embedding.
 *
 * @example Parse a publish
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseClientArgsSync } from "./_args.ts";
 * const result = parseClientArgsSync("pub", ["-t", "a/b", "-m", "hi", "-q", "1"]);
 * assert.equal(result.kind, "options");
 * if (result.kind === "options") assert.equal(result.options.qos, 1);
 * ```
 *
 * @param command The client command.
 * @param args The arguments after the command name.
 * @param fileLines Argument lists from the options file.
 * @returns The options, or help/version, or a usage error.
 */
export function parseClientArgsSync<C extends ClientCommand>(
  command: C,
  args: readonly string[],
  fileLines: readonly (readonly string[])[] = [],
): ParseResult<ClientOptionsMap[C]> {
  const s = newState(command);
  try {
    for (const line of fileLines) processArgs(s, line);
    processArgs(s, args);
    if (s.help) return { kind: "help" };
    if (s.version) return { kind: "version" };
    return { kind: "options", options: finish(s) as ClientOptionsMap[C] };
  } catch (error) {
    if (error instanceof UsageError) {
      // --help anywhere wins over errors after it, as mosquitto stops at --help
      if (s.help) return { kind: "help" };
      return { kind: "error", message: error.message, exitCode: ExitCode.Error };
    }
    throw error;
  }
}

function findOptionsFile(args: readonly string[]): string | undefined | Error {
  let found: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== "-o") continue;
    if (found !== undefined) return new UsageError("Duplicate -o argument given");
    const path = args[i + 1];
    if (path === undefined) {
      return new UsageError("-o argument given but no options file specified");
    }
    found = path;
  }
  return found;
}

/**
 * Parse the arguments of a client command, reading the options file first: the one given
 * with `-o`, else mosquitto's default for the command ({@linkcode defaultOptionsFile}),
 * which is silently skipped when missing. An unreadable `-o` file is a usage error.
 *
 * @example Parse a subscription
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseClientArgs } from "./_args.ts";
 * const context = {
 *   env: {},
 *   platform: "linux",
 *   readFile: () => Promise.reject(new Error("no file")),
 * };
 * const result = await parseClientArgs("sub", ["-t", "a/#", "-v"], context);
 * assert.equal(result.kind, "options");
 * if (result.kind === "options") assert.deepEqual(result.options.topics, ["a/#"]);
 * ```
 *
 * @param command The client command.
 * @param args The arguments after the command name.
 * @param context The environment and file reading (a `CliHost` fits).
 * @returns The options, or help/version, or a usage error.
 */
export async function parseClientArgs<C extends ClientCommand>(
  command: C,
  args: readonly string[],
  context: ArgsContext,
): Promise<ParseResult<ClientOptionsMap[C]>> {
  const explicit = findOptionsFile(args);
  if (explicit instanceof Error) {
    return { kind: "error", message: explicit.message, exitCode: ExitCode.Error };
  }
  const path = explicit ?? defaultOptionsFile(command, context);
  let lines: string[][] = [];
  if (path !== undefined) {
    try {
      lines = splitOptionsFile(new TextDecoder().decode(await context.readFile(path)));
    } catch (error) {
      if (explicit !== undefined) {
        const reason = error instanceof Error ? error.message : String(error);
        return {
          kind: "error",
          message: `Cannot read options file "${path}": ${reason}`,
          exitCode: ExitCode.Error,
        };
      }
    }
  }
  return parseClientArgsSync(command, args, lines);
}
