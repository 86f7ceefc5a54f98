/**
 * A seeded fuzzer against the broker over real sockets: random bytes and mutations of valid
 * and malformed fixtures of every packet type, sent after a valid CONNECT (many per
 * connection while it survives) and as the first packet, over a pool of concurrent
 * connections, while a well-behaved client keeps round-tripping QoS 1 messages. Replay a
 * failure with `MQ_FUZZ_SEED=<seed>`.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import type { Broker } from "../../broker/types.ts";
import { MALFORMED_FIXTURES } from "../../protocol/_malformed_fixtures.ts";
import { hexToBytes } from "../../protocol/_fixtures.ts";
import { MAX_PACKET_SIZE } from "../../protocol/mod.ts";
import { brokerFor } from "../broker/_client.ts";
import { Mutator } from "./_mutate.ts";
import {
  effectOf,
  type FirstExpectation,
  firstExpectation,
  judge,
  judgeFirst,
  KEEP_ALIVE,
  mix,
  type Plan,
  planConnection,
  streamOf,
  type Verdict,
} from "./_fuzz.ts";
import {
  errorLog,
  fuzzSeed,
  Probe,
  quantile,
  runtimeName,
  watchCrashes,
  Wire,
} from "./_helpers.ts";

// The broker's limits for the fuzz: a maximum packet size so that length corruption also
// reaches the 0x95 path, and the shortest connect timeout (the option is in whole seconds).
const FUZZ_MAX_PACKET_SIZE = 16_384;
const CONNECT_TIMEOUT = 1;
// The broker checks timeouts on a 500 ms sweep.
const SWEEP = 500;
// How long a connection may take to be closed once the broker has what ends it. Generous:
// two busy cores run the broker, the fuzzer and the other connections.
const CLOSE_BOUND = 10_000;
const STALL_BOUND = KEEP_ALIVE * 1500 + SWEEP + CLOSE_BOUND;
const FIRST_STALL_BOUND = CONNECT_TIMEOUT * 1000 + SWEEP + CLOSE_BOUND;

const TOTAL_INPUTS = 100_000;
const FIRST_PACKET_INPUTS = 3_000;
const CONCURRENCY = 64;
// Stalled connections wait for their timeout without holding a pool slot; at most this many.
const MAX_WAITING = 3_000;
// A QoS 1 round trip of the well-behaved client every this many inputs.
const PROBE_EVERY = 1_000;
const PROBE_BOUND = 2_000;

interface Failure {
  index: number;
  what: string;
  hex?: string;
}

function toHex(b: Uint8Array, max = 64): string {
  let s = "";
  for (const x of b.subarray(0, max)) s += (x < 16 ? "0" : "") + x.toString(16);
  return b.length > max ? `${s}… (${b.length} bytes)` : s;
}

// Open a connection, send everything at once, and wait for the broker to close it.
async function runPlan(broker: Broker, plan: Plan): Promise<Verdict> {
  const wire = await Wire.open(broker, plan.version);
  try {
    wire.write(streamOf(plan));
    const bound = plan.effect.kind === "stall" ? STALL_BOUND : CLOSE_BOUND;
    const closed = await wire.whenClosed(bound);
    return judge(plan, { packets: wire.packets, closed, decodeError: wire.decodeError });
  } finally {
    wire.destroy();
  }
}

async function runFirst(
  broker: Broker,
  input: Uint8Array,
  expected: FirstExpectation,
): Promise<string | undefined> {
  const version = expected.kind === "connack-any" || expected.kind === "connack-code"
    ? expected.version
    : 4;
  const wire = await Wire.open(broker, version);
  try {
    wire.write(input);
    if (expected.kind === "connack-any") {
      // Wait for the CONNACK (then hang up), or the close.
      await wire.until(() => wire.packets.some((p) => p.type === "connack"), CLOSE_BOUND);
      const connack = wire.packets.find((p) => p.type === "connack");
      if (connack !== undefined && connack.reasonCode !== 0) await wire.whenClosed(CLOSE_BOUND);
    } else {
      await wire.whenClosed(expected.kind === "stall" ? FIRST_STALL_BOUND : CLOSE_BOUND);
    }
    return judgeFirst(expected, {
      packets: wire.packets,
      closed: wire.closed,
      decodeError: wire.decodeError,
    });
  } finally {
    wire.destroy();
  }
}

describe("hostile clients: fuzzing", () => {
  test(
    "startBroker() survives 100,000 fuzzed inputs over real sockets and keeps serving a well-behaved client",
    { timeout: 120_000 },
    async (t) => {
      const seed = fuzzSeed();
      const crashes = watchCrashes(t);
      const log = errorLog();
      const broker = await brokerFor(t, {
        maxPacketSize: FUZZ_MAX_PACKET_SIZE,
        connectTimeout: CONNECT_TIMEOUT,
        // Topic aliases up to the largest, so fewer mutated PUBLISHes end a connection early.
        maxTopicAlias: 65_535,
        logger: log.logger,
        logTypes: ["error"],
      });
      const probe = await Probe.start(broker, "hostile-probe", PROBE_BOUND);
      t.after(() => probe.destroy());
      // Latency of the well-behaved client before the fuzz, for the report.
      const idle: number[] = [];
      for (let i = 0; i < 20; i++) idle.push(await probe.roundTrip());

      const failures: Failure[] = [];
      const waiting = new Set<Promise<void>>();
      // Inputs sent, and those the broker is known to have served (all the inputs of a
      // connection whose PINGREQ marker was answered, and every first packet).
      let inputs = 0;
      let served = 0;
      let pending = 0;
      let survivors = 0;
      let terminals = 0;
      let connections = 0;
      let sessionKills = 0;
      const effects: Record<string, number> = {};
      const codes: Record<string, number> = {};
      let nextProbeAt = PROBE_EVERY;
      let probing: Promise<void> | undefined;
      let fuzzing = true;
      const started = performance.now();

      const record = (index: number, what: string | undefined, input?: Uint8Array): void => {
        if (what === undefined || failures.length >= 20) return;
        const failure: Failure = { index, what };
        if (input !== undefined) failure.hex = toHex(input);
        failures.push(failure);
      };
      const maybeProbe = (): void => {
        if (probing !== undefined || inputs < nextProbeAt || !fuzzing) return;
        nextProbeAt = inputs + PROBE_EVERY;
        probing = probe.roundTrip().then(() => {
          probing = undefined;
        });
      };
      const track = (p: Promise<void>): Promise<void> => {
        waiting.add(p);
        return p.finally(() => waiting.delete(p));
      };

      // Phase 1: inputs after a valid CONNECT, until enough were served.
      const planOptions = {
        maxSurvivors: 40,
        maximumPacketSize: FUZZ_MAX_PACKET_SIZE,
        candidates: 400,
      };
      const target = TOTAL_INPUTS - FIRST_PACKET_INPUTS;
      const worker = async (): Promise<void> => {
        while (served + pending < target) {
          const index = connections++;
          const plan = planConnection(seed, index, planOptions);
          const n = plan.survivors.length + (plan.terminal === undefined ? 0 : 1);
          inputs += n;
          pending += n;
          survivors += plan.survivors.length;
          if (plan.terminal !== undefined) terminals++;
          effects[plan.effect.kind] = (effects[plan.effect.kind] ?? 0) + 1;
          maybeProbe();
          const run = runPlan(broker, plan).then(
            (verdict) => {
              pending -= n;
              if (verdict.sessionKill) sessionKills++;
              else served += n;
              const code = verdict.disconnectCode;
              if (code !== undefined) {
                codes[code.toString(16)] = (codes[code.toString(16)] ?? 0) + 1;
              }
              record(index, verdict.failure, plan.terminal);
            },
            (error) => {
              pending -= n;
              record(index, `failed: ${error}`, plan.terminal);
            },
          );
          if (plan.effect.kind === "stall") {
            void track(run);
            while (waiting.size >= MAX_WAITING) await Promise.race(waiting);
          } else {
            await run;
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));

      // Phase 2: the input is the first packet.
      const first = new Mutator(mix(seed, 0xffff_ffff));
      let firstCount = 0;
      const firstKinds: Record<string, number> = {};
      const firstWorker = async (): Promise<void> => {
        while (firstCount < FIRST_PACKET_INPUTS) {
          const index = firstCount++;
          const input = first.first().bytes;
          inputs++;
          served++;
          maybeProbe();
          const expected = firstExpectation(input, FUZZ_MAX_PACKET_SIZE);
          firstKinds[expected.kind] = (firstKinds[expected.kind] ?? 0) + 1;
          const run = runFirst(broker, input, expected).then(
            (what) => record(-1 - index, what && `first packet: ${what}`, input),
            (error) => record(-1 - index, `first packet failed: ${error}`, input),
          );
          if (expected.kind === "stall") {
            void track(run);
            while (waiting.size >= MAX_WAITING) await Promise.race(waiting);
          } else {
            await run;
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, firstWorker));
      const sent = performance.now();
      await Promise.all(waiting);
      fuzzing = false;
      await probing;
      const elapsed = performance.now() - started;

      // The broker still serves: a last round trip, and only the probe is connected.
      const after = await probe.roundTrip();
      const latencies = probe.latencies.slice(idle.length);
      const summary = `seed ${seed} (MQ_FUZZ_SEED=${seed} replays it), ${runtimeName()}: ` +
        `${inputs} inputs sent, ${served} known served (${survivors} survivors, ` +
        `${terminals} ended a connection, ${FIRST_PACKET_INPUTS} first packets) over ` +
        `${connections + FIRST_PACKET_INPUTS} ` +
        `connections in ${(elapsed / 1000).toFixed(1)} s (${
          Math.round(inputs / (sent - started) * 1000)
        } inputs/s while sending); effects ${JSON.stringify(effects)}, first packets ${
          JSON.stringify(firstKinds)
        }; session kills ${sessionKills}; DISCONNECT codes ${
          JSON.stringify(codes)
        }; probe idle median ${quantile(idle, 0.5).toFixed(1)} ms, under fuzz median ${
          quantile(latencies, 0.5).toFixed(1)
        } ms, max ${Math.max(...latencies).toFixed(1)} ms over ${latencies.length} round trips`;
      console.log(summary);

      assert.deepEqual(crashes, [], `uncaught errors, ${summary}`);
      assert.deepEqual(log.errors, [], `broker error log, ${summary}`);
      assert.deepEqual(failures, [], summary);
      assert.ok(served >= TOTAL_INPUTS, summary);
      assert.ok(Number.isFinite(after), `the well-behaved client's last round trip, ${summary}`);
      assert.ok(!probe.closed);
      assert.ok(latencies.length >= Math.floor(inputs / PROBE_EVERY) / 2, summary);
      assert.ok(
        latencies.every(Number.isFinite),
        `a round trip exceeded ${PROBE_BOUND} ms, ${summary}`,
      );
      assert.equal(broker.stats.clientsConnected, 1, summary);
    },
  );

  test(
    "startBroker() closes a connection with the decoder's reason code for each malformed fixture",
    { timeout: 60_000 },
    async (t) => {
      const crashes = watchCrashes(t);
      const log = errorLog();
      const broker = await brokerFor(t, {
        connectTimeout: CONNECT_TIMEOUT,
        logger: log.logger,
        logTypes: ["error"],
      });
      // No maxPacketSize: the protocol's own maximum applies.
      const max = MAX_PACKET_SIZE;
      const failures: string[] = [];
      let afterConnect = 0;
      await Promise.all(MALFORMED_FIXTURES.map(async (f, i) => {
        const input = hexToBytes(f.hex);
        // A fixture of a known version that is not a CONNECT is sent after a valid CONNECT;
        // the others are the first packet.
        const version = f.version;
        if (version !== undefined && input[0]! >> 4 !== 1) {
          afterConnect++;
          const effect = effectOf(input, version, max);
          // Valid for a server (e.g. a fixture of a client-side decoder): survives, then DISCONNECT.
          const ok = effect.kind === "ok";
          const plan: Plan = {
            index: 1_000_000 + i,
            version,
            survivors: ok ? [input] : [],
            pings: ok ? effect.pings : 0,
            terminal: ok ? undefined : input,
            effect,
          };
          const verdict = await runPlan(broker, plan);
          if (verdict.failure !== undefined) failures.push(`${f.name}: ${verdict.failure}`);
          // Nothing came before the fixture but a PINGREQ: its PINGRESP must be there.
          if (!ok && verdict.sessionKill) failures.push(`${f.name}: PINGREQ not answered`);
          return;
        }
        const what = await runFirst(broker, input, firstExpectation(input, max));
        if (what !== undefined) failures.push(`${f.name} (first packet): ${what}`);
      }));
      assert.deepEqual(failures, []);
      assert.ok(afterConnect > 200);
      assert.deepEqual(crashes, []);
      assert.deepEqual(log.errors, []);
      assert.equal(broker.stats.clientsConnected, 0);
    },
  );
});
