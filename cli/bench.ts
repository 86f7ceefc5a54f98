/**
 * `mq bench`: a load generator in the spirit of emqtt-bench. `pub` publishes stamped
 * messages from many clients, `sub` receives them and reports end-to-end latency
 * percentiles and lost or duplicated messages, `conn` measures how fast connections are
 * accepted and holds them. Clients are raw sockets driven by hand (pre-encoded packets,
 * batched writes, flow control from `write()` and `onDrain`), many per event loop. See
 * docs/bench.md.
 *
 * @module
 */

import { PublishTemplate } from "../protocol/publish_template.ts";
import { loadTcpAdapter } from "../socket/runtime.ts";
import { benchUsage, expandTopic, parseBenchArgs } from "./_bench_args.ts";
import { formatProgress, formatSummary } from "./_bench_report.ts";
import { type BenchProgress, BenchRun } from "./_bench_run.ts";
import { calibratedClock } from "./_bench_stats.ts";
import { STOP_SIGNALS } from "./_connection.ts";
import type { CliHost } from "./host.ts";

export type { BenchOptions, BenchScenario } from "./_bench_args.ts";
export type { BenchSummary } from "./_bench_run.ts";
export type { LatencySummary } from "./_bench_stats.ts";

/** Milliseconds between updates of the live status line. */
const LIVE_INTERVAL = 250;

function usageError(host: CliHost, message: string): number {
  host.stderr.writeText(`Error: ${message}\n`);
  host.stderr.writeText(`Use 'mq bench --help' to see usage.\n`);
  return 1;
}

function randomUint32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

/**
 * Run `mq bench <pub|sub|conn> [options]`. Usage errors print a line and a hint on
 * standard error and return 1; the summary goes to standard error, or as JSON to standard
 * output with `--json`. SIGINT or SIGTERM ends the run early with the summary; a second one
 * exits at once with 130.
 *
 * @example Print the help
 * ```ts
 * import assert from "node:assert/strict";
 * import { runBench } from "./bench.ts";
 * let text = "";
 * const out = { isTTY: false, write() {}, writeText(t: string) { text += t; } };
 * const host = { stdout: out, stderr: out } as unknown as Parameters<typeof runBench>[1];
 * assert.equal(await runBench(["--help"], host), 0);
 * assert.match(text, /^mq bench /);
 * assert.equal(await runBench(["pub", "-q", "3"], host), 1);
 * ```
 *
 * @param args The arguments after `bench`.
 * @param host The runtime.
 * @returns The exit code: 1 for usage errors, when no client connected or when errors were
 *   counted (failed connections included), else 0.
 */
export async function runBench(args: readonly string[], host: CliHost): Promise<number> {
  const parsed = parseBenchArgs(args);
  if (parsed.kind === "help") {
    host.stdout.writeText(`${benchUsage()}\n`);
    return 0;
  }
  if (parsed.kind === "error") return usageError(host, parsed.message);
  const o = parsed.options;
  if (o.scenario === "pub") {
    try {
      PublishTemplate.from({
        type: "publish",
        topic: expandTopic(
          o.topic,
          o.clients,
          `${o.prefix ?? "mq-bench-00000000"}-pub-${o.clients}`,
        ),
        payload: new Uint8Array(o.payloadSize),
        qos: o.qos,
        retain: o.retain,
        dup: false,
      }, o.protocolVersion);
    } catch (error) {
      return usageError(host, `Cannot build the PUBLISH packet: ${(error as Error).message}`);
    }
  }
  const adapter = host.adapter ?? await loadTcpAdapter();
  const clock = calibratedClock(() => host.now());
  const run = new BenchRun(o, {
    adapter,
    clock,
    prefix: `mq-bench-${randomUint32().toString(16).padStart(8, "0")}`,
    publisherBase: randomUint32(),
  });
  let signalled = false;
  const unlisten = STOP_SIGNALS.map(([signal, code]) =>
    host.onSignal(signal, () => {
      if (signalled) host.exit(code);
      signalled = true;
      run.stop();
    })
  );
  let live: ReturnType<typeof setInterval> | undefined;
  let shown = false;
  if (!o.quiet && host.stderr.isTTY) {
    let previous: BenchProgress | undefined;
    live = setInterval(() => {
      const now = run.progress();
      host.stderr.writeText(`\r${formatProgress(now, previous)}\x1b[K`);
      previous = now;
      shown = true;
    }, LIVE_INTERVAL);
  }
  let summary;
  try {
    summary = await run.run();
  } finally {
    clearInterval(live);
    for (const off of unlisten) off();
    if (shown) host.stderr.writeText("\r\x1b[K");
  }
  if (o.json) host.stdout.writeText(`${JSON.stringify(summary)}\n`);
  else if (!o.quiet) host.stderr.writeText(formatSummary(summary));
  return summary.connected === 0 || summary.errors > 0 ? 1 : 0;
}
