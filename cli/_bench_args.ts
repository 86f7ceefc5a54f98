/**
 * The options of `mq bench` (in the spirit of emqtt-bench's), their parsing and the help
 * text built from the same table.
 *
 * @module
 */

import type { QoS } from "../protocol/packet.ts";
import { isValidTopicFilter, isValidTopicName } from "../protocol/topic.ts";
import { VERSION } from "../version.ts";

/** A `mq bench` scenario. */
export type BenchScenario = "pub" | "sub" | "conn";

/** The parsed options of `mq bench`. */
export interface BenchOptions {
  /** The scenario. */
  scenario: BenchScenario;
  /** Broker host. */
  host: string;
  /** Broker port. */
  port: number;
  /** Protocol level: 4 (MQTT 3.1.1) or 5. */
  protocolVersion: 4 | 5;
  /** Number of clients. */
  clients: number;
  /** Milliseconds between client connects; 0 connects `concurrency` at a time. */
  connectInterval: number;
  /** Connection attempts in progress at once when `connectInterval` is 0. */
  concurrency: number;
  /** QoS of publishes (pub) or subscriptions (sub). */
  qos: QoS;
  /** User name. */
  username?: string;
  /** Password. */
  password?: string;
  /** Seconds the run lasts; 0 for no limit. */
  duration: number;
  /** Messages per client (pub: to send, sub: to receive); -1 for no limit. */
  count: number;
  /** Keep alive in seconds; 0 disables it. */
  keepAlive: number;
  /** Print the final summary as JSON on standard output. */
  json: boolean;
  /** Print neither the live line nor the human-readable summary. */
  quiet: boolean;
  /** Topic (pub) or filter (sub) template: `%i` is the client index, `%c` the client id. */
  topic: string;
  /** Payload size in bytes (pub), at least 16. */
  payloadSize: number;
  /** Milliseconds between messages per client (pub); 0 as fast as flow control allows. */
  interval: number;
  /** Most QoS 1 and 2 messages in flight per client (pub); `undefined` for the default. */
  inflight?: number;
  /** Set the retain flag (pub). */
  retain: boolean;
  /** Client id prefix; ids are `<prefix>-<scenario>-<index>`. */
  prefix?: string;
}

type Kind = "string" | "integer" | "number" | "flag" | "qos" | "version" | "count";

interface Spec {
  readonly names: readonly string[];
  readonly key: keyof BenchOptions | "help";
  readonly kind: Kind;
  readonly scenarios: readonly BenchScenario[];
  readonly value?: string;
  readonly help: string;
  readonly min?: number;
  readonly max?: number;
}

const ALL: readonly BenchScenario[] = ["pub", "sub", "conn"];
const PUB: readonly BenchScenario[] = ["pub"];
const PUB_SUB: readonly BenchScenario[] = ["pub", "sub"];

const SPECS: readonly Spec[] = [
  {
    names: ["-h", "--host"],
    key: "host",
    kind: "string",
    scenarios: ALL,
    value: "host",
    help: "broker host (default 127.0.0.1)",
  },
  {
    names: ["-p", "--port"],
    key: "port",
    kind: "integer",
    scenarios: ALL,
    value: "port",
    help: "broker port (default 1883)",
    min: 1,
    max: 65_535,
  },
  {
    names: ["-V", "--protocol-version"],
    key: "protocolVersion",
    kind: "version",
    scenarios: ALL,
    value: "version",
    help: "MQTT version: 311 or 5 (default 5)",
  },
  {
    names: ["-c", "--clients"],
    key: "clients",
    kind: "integer",
    scenarios: ALL,
    value: "count",
    help: "number of clients (default 1)",
    min: 1,
    max: 1_000_000,
  },
  {
    names: ["-i", "--interval-connect"],
    key: "connectInterval",
    kind: "number",
    scenarios: ALL,
    value: "ms",
    help: "milliseconds between connects (default 0: --concurrency at once)",
    min: 0,
  },
  {
    names: ["--concurrency"],
    key: "concurrency",
    kind: "integer",
    scenarios: ALL,
    value: "count",
    help: "connects in progress at once with -i 0 (default 100)",
    min: 1,
    max: 1_000_000,
  },
  {
    names: ["-q", "--qos"],
    key: "qos",
    kind: "qos",
    scenarios: PUB_SUB,
    value: "qos",
    help: "QoS of publishes or subscriptions: 0, 1, 2 (default 0)",
  },
  {
    names: ["-u", "--username"],
    key: "username",
    kind: "string",
    scenarios: ALL,
    value: "username",
    help: "user name",
  },
  {
    names: ["-P", "--password"],
    key: "password",
    kind: "string",
    scenarios: ALL,
    value: "password",
    help: "password",
  },
  {
    names: ["--duration"],
    key: "duration",
    kind: "number",
    scenarios: ALL,
    value: "seconds",
    help: "length of the run, 0: no limit (default 10, 0 with -n)",
    min: 0,
  },
  {
    names: ["-n", "--count"],
    key: "count",
    kind: "count",
    scenarios: PUB_SUB,
    value: "count",
    help: "messages per client to send or receive, -1: no limit",
  },
  {
    names: ["-k", "--keepalive"],
    key: "keepAlive",
    kind: "integer",
    scenarios: ALL,
    value: "seconds",
    help: "keep alive, 0 to disable (default 60)",
    min: 0,
    max: 65_535,
  },
  {
    names: ["-t", "--topic"],
    key: "topic",
    kind: "string",
    scenarios: PUB_SUB,
    value: "template",
    help: "topic (bench/%i) or filter (bench/#); %i index, %c id",
  },
  {
    names: ["-s", "--size"],
    key: "payloadSize",
    kind: "integer",
    scenarios: PUB,
    value: "bytes",
    help: "payload size, at least 16 (default 64)",
    min: 16,
    max: 268_435_000,
  },
  {
    names: ["-I", "--interval"],
    key: "interval",
    kind: "number",
    scenarios: PUB,
    value: "ms",
    help: "milliseconds between messages per client (default 0: no pause)",
    min: 0,
  },
  {
    names: ["--inflight"],
    key: "inflight",
    kind: "integer",
    scenarios: PUB,
    value: "count",
    help: "QoS 1/2 in flight per client (default: receive maximum, 20 on 3.1.1)",
    min: 1,
    max: 65_535,
  },
  {
    names: ["-r", "--retain"],
    key: "retain",
    kind: "flag",
    scenarios: PUB,
    help: "set the retain flag",
  },
  {
    names: ["--prefix"],
    key: "prefix",
    kind: "string",
    scenarios: ALL,
    value: "prefix",
    help: "client ids are <prefix>-<scenario>-<index> (default mq-bench-<hex>)",
  },
  {
    names: ["--json"],
    key: "json",
    kind: "flag",
    scenarios: ALL,
    help: "print the final summary as JSON on standard output",
  },
  {
    names: ["--quiet"],
    key: "quiet",
    kind: "flag",
    scenarios: ALL,
    help: "no live line and no summary on standard error",
  },
  { names: ["--help"], key: "help", kind: "flag", scenarios: ALL, help: "display this help" },
];

/**
 * The help text of `mq bench`.
 *
 * @example Every option is listed
 * ```ts
 * import assert from "node:assert/strict";
 * import { benchUsage } from "./_bench_args.ts";
 * assert.match(benchUsage(), /--interval-connect/);
 * ```
 *
 * @returns The text, without a final newline.
 */
export function benchUsage(): string {
  const lines = [
    `mq bench ${VERSION}: load generator (publishers, subscribers, connections).`,
    "",
    "Usage: mq bench pub  [-h host] [-p port] [-c clients] [-t topic] [-q qos] [-s size] [-I ms]",
    "                     [-n count | --duration seconds] [options]",
    "       mq bench sub  [-h host] [-p port] [-c clients] [-t filter] [-q qos]",
    "                     [-n count | --duration seconds] [options]",
    "       mq bench conn [-h host] [-p port] [-c clients] [-i ms] [--duration seconds] [options]",
    "",
  ];
  for (const spec of SPECS) {
    const names = spec.names.join(", ");
    const value = spec.value === undefined ? "" : ` <${spec.value}>`;
    const only = spec.scenarios.length === ALL.length ? "" : ` [${spec.scenarios.join(", ")}]`;
    lines.push(` ${`${names}${value}`.padEnd(33)} ${spec.help}${only}`);
  }
  lines.push(
    "",
    "pub payloads start with a 16-byte stamp (send time, sequence number, publisher id) that",
    "sub reads for latency percentiles and lost or duplicated messages. See docs/bench.md.",
  );
  return lines.join("\n");
}

/** What {@linkcode parseBenchArgs} returns. */
export type BenchArgsResult =
  | { kind: "options"; options: BenchOptions }
  | { kind: "help" }
  | { kind: "error"; message: string };

function parseVersion(text: string): 4 | 5 | undefined {
  switch (text) {
    case "311":
    case "3.1.1":
    case "4":
    case "mqttv311":
      return 4;
    case "5":
    case "5.0":
    case "mqttv5":
      return 5;
  }
  return undefined;
}

function parseNumber(text: string, integer: boolean): number | undefined {
  if (!/^-?(\d+(\.\d*)?|\.\d+)$/.test(text)) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) return undefined;
  return n;
}

/** Expand a topic template for the first client, for checking. */
function sampleTopic(o: BenchOptions): string {
  return expandTopic(o.topic, 1, `${o.prefix ?? "mq-bench-00000000"}-${o.scenario}-1`);
}

/**
 * Expand a topic template: `%i` becomes the client index (from 1), `%c` the client id and
 * `%%` a percent sign.
 *
 * @example A topic per client
 * ```ts
 * import assert from "node:assert/strict";
 * import { expandTopic } from "./_bench_args.ts";
 * assert.equal(expandTopic("bench/%i/%c", 3, "x-3"), "bench/3/x-3");
 * ```
 *
 * @param template The template.
 * @param index The client index, from 1.
 * @param clientId The client id.
 * @returns The topic.
 */
export function expandTopic(template: string, index: number, clientId: string): string {
  if (!template.includes("%")) return template;
  return template.replace(
    /%([ic%])/g,
    (_, c: string) => c === "i" ? String(index) : c === "c" ? clientId : "%",
  );
}

/**
 * Parse the arguments of `mq bench`: the scenario, then options as `-x value`,
 * `--name value` or `--name=value`.
 *
 * @example Two publishers at QoS 1
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseBenchArgs } from "./_bench_args.ts";
 * const r = parseBenchArgs(["pub", "-c", "2", "-q", "1"]);
 * assert.ok(r.kind === "options");
 * assert.equal(r.options.clients, 2);
 * assert.equal(r.options.qos, 1);
 * assert.equal(parseBenchArgs(["pub", "-q", "3"]).kind, "error");
 * ```
 *
 * @param args The arguments after `bench`.
 * @returns The options, a request for help, or an error message.
 */
export function parseBenchArgs(args: readonly string[]): BenchArgsResult {
  const [scenario, ...rest] = args;
  if (scenario === "--help" || scenario === "-h" || scenario === "help") return { kind: "help" };
  if (scenario === undefined) {
    return { kind: "error", message: "No scenario given: use pub, sub or conn" };
  }
  if (scenario !== "pub" && scenario !== "sub" && scenario !== "conn") {
    return { kind: "error", message: `Unknown scenario "${scenario}": use pub, sub or conn` };
  }
  const o: BenchOptions = {
    scenario,
    host: "127.0.0.1",
    port: 1883,
    protocolVersion: 5,
    clients: 1,
    connectInterval: 0,
    concurrency: 100,
    qos: 0,
    duration: 10,
    count: -1,
    keepAlive: 60,
    json: false,
    quiet: false,
    topic: scenario === "sub" ? "bench/#" : "bench/%i",
    payloadSize: 64,
    interval: 0,
    retain: false,
  };
  let durationGiven = false;
  const values = o as unknown as Record<string, unknown>;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const spec = SPECS.find((s) => s.names.includes(name));
    if (spec === undefined) return { kind: "error", message: `Unknown option "${name}"` };
    if (spec.key === "help") return { kind: "help" };
    if (!spec.scenarios.includes(scenario)) {
      return { kind: "error", message: `Option "${name}" does not apply to mq bench ${scenario}` };
    }
    if (spec.kind === "flag") {
      if (eq >= 0) return { kind: "error", message: `Option "${name}" takes no value` };
      values[spec.key] = true;
      continue;
    }
    let text: string | undefined;
    if (eq >= 0) text = arg.slice(eq + 1);
    else text = rest[++i];
    if (text === undefined) return { kind: "error", message: `Option "${name}" needs a value` };
    const bad = (why: string): BenchArgsResult => ({
      kind: "error",
      message: `Invalid value "${text}" for ${name}: ${why}`,
    });
    switch (spec.kind) {
      case "string":
        values[spec.key] = text;
        break;
      case "version": {
        const v = parseVersion(text);
        if (v === undefined) return bad("use 311 or 5");
        o.protocolVersion = v;
        break;
      }
      case "qos":
        if (text !== "0" && text !== "1" && text !== "2") return bad("use 0, 1 or 2");
        o.qos = Number(text) as QoS;
        break;
      case "count": {
        const n = parseNumber(text, true);
        if (n === undefined || (n < 1 && n !== -1)) return bad("use a positive integer or -1");
        o.count = n;
        break;
      }
      case "integer":
      case "number": {
        const n = parseNumber(text, spec.kind === "integer");
        if (n === undefined) {
          return bad(spec.kind === "integer" ? "not an integer" : "not a number");
        }
        if (spec.min !== undefined && n < spec.min) return bad(`less than ${spec.min}`);
        if (spec.max !== undefined && n > spec.max) return bad(`more than ${spec.max}`);
        values[spec.key] = n;
        if (spec.key === "duration") durationGiven = true;
        break;
      }
    }
  }
  if (o.count !== -1 && !durationGiven) o.duration = 0;
  if (o.password !== undefined && o.username === undefined && o.protocolVersion === 4) {
    // v3.1.1 §3.1.2.9 [MQTT-3.1.2-22]
    return { kind: "error", message: "A password needs a user name (-u) with MQTT 3.1.1" };
  }
  if (o.scenario === "pub" && !isValidTopicName(sampleTopic(o))) {
    return { kind: "error", message: `Invalid topic "${o.topic}": not a valid topic name` };
  }
  if (o.scenario === "sub" && !isValidTopicFilter(sampleTopic(o))) {
    return { kind: "error", message: `Invalid filter "${o.topic}": not a valid topic filter` };
  }
  return { kind: "options", options: o };
}
