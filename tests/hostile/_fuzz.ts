/**
 * The fuzzer's plans and verdicts. A reference decoder, configured as the broker's (server
 * side, same maximum packet size), tells in advance what each input does to a connection:
 * it survives (complete packets the broker serves), kills it (malformed, with the reason code
 * the broker must send), stalls it (an incomplete packet the broker has to wait for) or ends
 * it. After the connection closes, what the broker sent is checked against that.
 *
 * @module
 */

import {
  Decoder,
  encodePacket,
  isValidReasonCode,
  type Packet,
  type ProtocolVersion,
} from "../../protocol/mod.ts";
import { connectBytes } from "./_helpers.ts";
import { Mutator } from "./_mutate.ts";

/** Keep alive of fuzzed connections, in seconds: a stalled one is closed after 1.5 times it. */
export const KEEP_ALIVE = 1;

/** What one input does to a connection in the connected state. */
export type Effect =
  /** Complete packets the broker serves: the connection goes on. */
  | { kind: "ok"; pings: number; packets: Packet[] }
  /** The decoder fails: `code` is what a v5 client must get in DISCONNECT. */
  | { kind: "kill"; code: number; decoderCode: number; before: Packet[] }
  /** An incomplete packet: the broker must wait, then time the connection out. */
  | { kind: "stall"; before: Packet[] }
  /**
   * Complete packets, the last of which ends the connection: a DISCONNECT, or a packet the
   * session refuses (AUTH without an authentication method, PUBLISH with an unknown topic
   * alias). A second CONNECT never gets here: the decoder itself rejects it [MQTT-3.1.0-2].
   */
  | { kind: "end"; before: Packet[]; last: Packet };

const connects = new Map<ProtocolVersion, Uint8Array>();

/**
 * The effect of `bytes` sent to a connection of `version`, at a packet boundary.
 *
 * @param bytes The input.
 * @param version The connection's protocol version.
 * @param maximumPacketSize The broker's maximum packet size.
 * @returns The effect.
 */
export function effectOf(
  bytes: Uint8Array,
  version: ProtocolVersion,
  maximumPacketSize: number,
): Effect {
  let connect = connects.get(version);
  if (connect === undefined) connects.set(version, connect = connectBytes("x", version));
  const decoder = new Decoder({ side: "server", maximumPacketSize });
  decoder.push(connect);
  decoder.next();
  decoder.push(bytes);
  const packets: Packet[] = [];
  for (let p = decoder.next(); p !== undefined; p = decoder.next()) {
    packets.push(p);
    if (p.type === "disconnect" || p.type === "auth") {
      return { kind: "end", before: packets.slice(0, -1), last: p };
    }
  }
  const error = decoder.error;
  if (error !== undefined) {
    const code = isValidReasonCode("disconnect", error.reasonCode) ? error.reasonCode : 0x81;
    return { kind: "kill", code, decoderCode: error.reasonCode, before: packets };
  }
  if (decoder.bufferedBytes > 0) return { kind: "stall", before: packets };
  let pings = 0;
  for (const p of packets) if (p.type === "pingreq") pings++;
  return { kind: "ok", pings, packets };
}

/** The inputs of one fuzzed connection, after a valid CONNECT. */
export interface Plan {
  /** Connection number (with the seed, it regenerates the plan). */
  index: number;
  /** Protocol version of the CONNECT. */
  version: ProtocolVersion;
  /** Inputs the connection survives. */
  survivors: Uint8Array[];
  /** PINGREQs among the survivors (the PINGREQ marker's PINGRESP comes after theirs). */
  pings: number;
  /** The input that ends the connection, if any (else the client sends DISCONNECT). */
  terminal: Uint8Array | undefined;
  /** What the terminal input does. */
  effect: Effect;
}

/**
 * Mix a connection number into the seed.
 *
 * @param seed The run's seed.
 * @param index The connection number.
 * @returns The connection's seed.
 */
export function mix(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e37_79b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

/**
 * The plan of connection `index`: up to `maxSurvivors` inputs it survives, then one that kills,
 * stalls or ends it (or, for some, none).
 *
 * @param seed The run's seed.
 * @param index The connection number.
 * @param options Limits.
 * @returns The plan.
 */
export function planConnection(
  seed: number,
  index: number,
  options: { maxSurvivors: number; maximumPacketSize: number; candidates: number },
): Plan {
  // Most candidates are malformed: skip capturing a stack trace for each error the reference
  // decoder makes (synchronous, so nothing else runs meanwhile).
  const errorClass = Error as { stackTraceLimit?: number | undefined };
  const limit = errorClass.stackTraceLimit;
  errorClass.stackTraceLimit = 0;
  try {
    return plan(seed, index, options);
  } finally {
    errorClass.stackTraceLimit = limit;
  }
}

function plan(
  seed: number,
  index: number,
  options: { maxSurvivors: number; maximumPacketSize: number; candidates: number },
): Plan {
  const m = new Mutator(mix(seed, index));
  const r = m.random;
  const version = r.pick([5, 5, 5, 4, 4, 3] as const);
  const wanted = r.chance(0.25) ? 0 : r.int(1, options.maxSurvivors);
  const wantTerminal = !r.chance(0.05);
  const survivors: Uint8Array[] = [];
  let terminal: Uint8Array | undefined;
  let effect: Effect = { kind: "ok", pings: 0, packets: [] };
  // Topic aliases the survivors map: a PUBLISH using another one (or alias 0) is refused
  // by the session [MQTT-3.3.2-8], so it can only end a connection.
  const aliases = new Set<number>();
  let pings = 0;
  // Draw candidates until the plan is full; surplus non-survivors are dropped unsent.
  for (let i = 0; i < options.candidates; i++) {
    if (survivors.length >= wanted && (terminal !== undefined || !wantTerminal)) break;
    // While survivors are wanted, mostly gentle mutations (about three times as many decode).
    const input = survivors.length < wanted && r.chance(0.7) ? m.gentle(version) : m.next(version);
    let e = effectOf(input.bytes, version, options.maximumPacketSize);
    if (e.kind === "ok") e = withAliases(e, aliases);
    if (e.kind === "ok") {
      if (survivors.length < wanted) {
        survivors.push(input.bytes);
        pings += e.pings;
        for (const p of e.packets) {
          const alias = p.type === "publish" ? p.properties?.topicAlias : undefined;
          if (alias !== undefined) aliases.add(alias);
        }
      }
    } else if (terminal === undefined && wantTerminal) {
      terminal = input.bytes;
      effect = e;
    }
  }
  return { index, version, survivors, pings, terminal, effect };
}

/** What the broker sent, and whether it closed in time. */
export interface Outcome {
  packets: readonly Packet[];
  closed: boolean;
  decodeError: Error | undefined;
}

/** A counted verdict: `undefined` is a pass; a string describes a failure. */
export interface Verdict {
  failure: string | undefined;
  /**
   * The broker's session refused a survivor (a packet that decodes but breaks a rule of the
   * session: topic alias, receive maximum …), so not every input was served.
   */
  sessionKill: boolean;
  /** The v5 DISCONNECT reason code received, if any. */
  disconnectCode: number | undefined;
}

function hex(n: number): string {
  return "0x" + n.toString(16).padStart(2, "0");
}

/**
 * Judge a fuzzed connection after the broker closed it (or the bound passed).
 *
 * @param plan The plan.
 * @param outcome What happened.
 * @returns The verdict.
 */
export function judge(plan: Plan, outcome: Outcome): Verdict {
  const { packets } = outcome;
  const v5 = plan.version === 5;
  const verdict: Verdict = { failure: undefined, sessionKill: false, disconnectCode: undefined };
  const fail = (why: string): Verdict => {
    verdict.failure = why;
    return verdict;
  };
  if (outcome.decodeError !== undefined) {
    return fail(`the broker sent bytes that do not decode: ${outcome.decodeError.message}`);
  }
  if (!outcome.closed) return fail(`not closed in time (${plan.effect.kind})`);
  const connack = packets[0];
  if (connack?.type !== "connack" || connack.reasonCode !== 0) {
    return fail(`expected CONNACK 0 first, got ${connack?.type ?? "nothing"}`);
  }
  const disconnects = packets.filter((p) => p.type === "disconnect");
  let pongs = 0;
  for (const p of packets) if (p.type === "pingresp") pongs++;
  // The marker's PINGRESP says the broker served every survivor.
  const ponged = pongs > plan.pings;
  verdict.sessionKill = !ponged;
  if (!v5) {
    if (disconnects.length > 0) return fail("an MQTT 3.x client got DISCONNECT");
    return verdict;
  }
  if (disconnects.length > 1) return fail("more than one DISCONNECT");
  const last = packets[packets.length - 1]!;
  if (disconnects.length === 1 && last.type !== "disconnect") {
    return fail(`DISCONNECT was followed by ${last.type}`);
  }
  const code = last.type === "disconnect" ? last.reasonCode ?? 0 : undefined;
  verdict.disconnectCode = code;
  if (!ponged) {
    // The session refused one of the surviving inputs (topic alias, receive maximum …):
    // it must say so with an error code.
    if (code === undefined || code < 0x80) {
      return fail(`killed before the PINGREQ marker without DISCONNECT (code ${code})`);
    }
    return verdict;
  }
  const effect = plan.effect;
  switch (effect.kind) {
    case "kill": {
      if (code === undefined) return fail(`no DISCONNECT ${hex(effect.code)} before close`);
      if (effect.before.length === 0 && code !== effect.code) {
        return fail(`DISCONNECT ${hex(code)}, the decoder reports ${hex(effect.decoderCode)}`);
      }
      if (code !== effect.code && code < 0x80) return fail(`DISCONNECT ${hex(code)}`);
      return verdict;
    }
    case "stall": {
      if (effect.before.length === 0 && code !== 0x8d) {
        return fail(`a stalled connection got ${code === undefined ? "no DISCONNECT" : hex(code)}`);
      }
      if (code !== undefined && code < 0x80) return fail(`DISCONNECT ${hex(code)}`);
      return verdict;
    }
    case "end": {
      if (effect.last.type === "disconnect") {
        if (code !== undefined && code < 0x80) return fail(`DISCONNECT ${hex(code)}`);
        return verdict;
      }
      if (code === undefined || code < 0x80) {
        return fail(
          `a refused ${effect.last.type} got ${code === undefined ? "no DISCONNECT" : hex(code)}`,
        );
      }
      return verdict;
    }
    case "ok":
      // The client ended with DISCONNECT: the broker just closes.
      if (code !== undefined) return fail(`DISCONNECT ${hex(code)} after a normal DISCONNECT`);
      return verdict;
  }
}

/**
 * The bytes a fuzzed connection sends: CONNECT, the survivors, PINGREQ (the marker that all
 * of them were served) and the terminal input, or DISCONNECT.
 *
 * @param plan The plan.
 * @returns The bytes.
 */
export function streamOf(plan: Plan): Uint8Array {
  const v = plan.version;
  const parts: Uint8Array[] = [
    connectBytes(`fz-${plan.index}`, v, { keepAlive: KEEP_ALIVE }),
    ...plan.survivors,
  ];
  parts.push(encodePacket({ type: "pingreq" }, v));
  parts.push(
    plan.terminal ??
      encodePacket(v === 5 ? { type: "disconnect", reasonCode: 0 } : { type: "disconnect" }, v),
  );
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// An input that decodes but uses a topic alias nothing mapped ends the connection.
function withAliases(effect: Effect & { kind: "ok" }, aliases: Set<number>): Effect {
  const mapped = new Set(aliases);
  for (let i = 0; i < effect.packets.length; i++) {
    const p = effect.packets[i]!;
    if (p.type !== "publish") continue;
    const alias = p.properties?.topicAlias;
    if (alias === undefined) continue;
    if (alias === 0 || (p.topic === "" && !mapped.has(alias))) {
      return { kind: "end", before: effect.packets.slice(0, i), last: p };
    }
    mapped.add(alias);
  }
  return effect;
}

/** What a first packet (instead of CONNECT) must get. */
export type FirstExpectation =
  /** A CONNECT that decodes: a CONNACK, any code. */
  | { kind: "connack-any"; version: ProtocolVersion }
  /** A fault the broker answers with this CONNACK code, then closes. */
  | { kind: "connack-code"; version: ProtocolVersion; code: number }
  /** A fault that just closes (no CONNACK). */
  | { kind: "close" }
  /** Incomplete: closed at the connect timeout, nothing sent. */
  | { kind: "stall" };

/**
 * What the broker must do with `bytes` sent as the first packet.
 *
 * @param bytes The input.
 * @param maximumPacketSize The broker's maximum packet size.
 * @returns The expectation.
 */
export function firstExpectation(bytes: Uint8Array, maximumPacketSize: number): FirstExpectation {
  const decoder = new Decoder({ side: "server", maximumPacketSize });
  decoder.push(bytes);
  const first = decoder.next();
  if (first !== undefined) {
    if (first.type === "connect") return { kind: "connack-any", version: first.protocolVersion };
    return { kind: "close" };
  }
  const error = decoder.error;
  if (error !== undefined) {
    // v5 §4.13: an error in CONNECT may be answered with CONNACK and the reason code.
    if (decoder.protocolVersion === 5 && isValidReasonCode("connack", error.reasonCode)) {
      return { kind: "connack-code", version: 5, code: error.reasonCode };
    }
    // v3.1.1 [MQTT-3.1.2-2]: an unacceptable protocol level gets return code 1.
    if (error.spec === "MQTT-3.1.2-2") return { kind: "connack-code", version: 4, code: 1 };
    return { kind: "close" };
  }
  return { kind: "stall" };
}

/**
 * Judge a connection whose first packet was `bytes`.
 *
 * @param expected The expectation.
 * @param outcome What happened.
 * @returns A failure, or undefined.
 */
export function judgeFirst(expected: FirstExpectation, outcome: Outcome): string | undefined {
  const { packets } = outcome;
  if (outcome.decodeError !== undefined) {
    return `the broker sent bytes that do not decode: ${outcome.decodeError.message}`;
  }
  const connack = packets.find((p) => p.type === "connack");
  switch (expected.kind) {
    case "connack-any":
      if (connack === undefined) return `no CONNACK (closed: ${outcome.closed})`;
      if (connack.reasonCode !== 0 && !outcome.closed) return "refused but not closed";
      return undefined;
    case "connack-code":
      if (!outcome.closed) return "not closed in time";
      if (connack?.reasonCode !== expected.code) {
        return `expected CONNACK ${hex(expected.code)}, got ${
          connack === undefined ? "none" : hex(connack.reasonCode)
        }`;
      }
      return undefined;
    case "close":
    case "stall":
      if (!outcome.closed) return "not closed in time";
      if (packets.length > 0) return `expected nothing, got ${packets.map((p) => p.type)}`;
      return undefined;
  }
}
