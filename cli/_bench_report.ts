/**
 * How `mq bench` shows its numbers: the live status line and the human-readable summary.
 *
 * @module
 */

import type { BenchProgress, BenchSummary } from "./_bench_run.ts";

/**
 * An integer with thousands separators.
 *
 * @example Group digits
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatCount } from "./_bench_report.ts";
 * assert.equal(formatCount(1234567.4), "1,234,567");
 * ```
 *
 * @param n The number.
 * @returns The text.
 */
export function formatCount(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * A latency in milliseconds with three significant digits or more.
 *
 * @example Small and large latencies
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatMs } from "./_bench_report.ts";
 * assert.equal(formatMs(0.41234), "0.412");
 * assert.equal(formatMs(12.345), "12.3");
 * ```
 *
 * @param ms The latency.
 * @returns The text, without a unit.
 */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  return ms < 1
    ? ms.toFixed(3)
    : ms < 10
    ? ms.toFixed(2)
    : ms < 1000
    ? ms.toFixed(1)
    : ms.toFixed(0);
}

function plural(n: number, word: string): string {
  return `${formatCount(n)} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * The live status line (without `\r`), with the rate since the previous snapshot.
 *
 * @example A publisher's line
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatProgress } from "./_bench_report.ts";
 * const p = {
 *   scenario: "pub", time: 2, clients: 1, connected: 1, failed: 0, sent: 3000, received: 0,
 *   inflight: 0, errors: 0, p50: NaN, p99: NaN,
 * } as const;
 * assert.match(formatProgress(p, { ...p, time: 1, sent: 1000 }), /sent 3,000 {2}2,000\/s/);
 * ```
 *
 * @param now The current snapshot.
 * @param previous The previous snapshot, for the rate.
 * @returns The line.
 */
export function formatProgress(now: BenchProgress, previous: BenchProgress | undefined): string {
  const dt = previous === undefined ? now.time : now.time - previous.time;
  const rate = (current: number, before: number): string =>
    `${formatCount(dt > 0 ? (current - before) / dt : 0)}/s`;
  const head = `${now.scenario} ${now.time.toFixed(1)}s`;
  switch (now.scenario) {
    case "pub":
      return `${head}  clients ${now.connected}/${now.clients}  sent ${formatCount(now.sent)}  ${
        rate(now.sent, previous?.sent ?? 0)
      }  inflight ${now.inflight}  errors ${now.errors}`;
    case "sub":
      return `${head}  clients ${now.connected}/${now.clients}  received ${
        formatCount(now.received)
      }  ${rate(now.received, previous?.received ?? 0)}  p50 ${formatMs(now.p50)}ms  p99 ${
        formatMs(now.p99)
      }ms  errors ${now.errors}`;
    case "conn":
      return `${head}  connected ${formatCount(now.connected)}/${formatCount(now.clients)}  ${
        rate(now.connected, previous?.connected ?? 0)
      }  failed ${now.failed}  errors ${now.errors}`;
  }
}

/**
 * The human-readable summary printed at the end of a run.
 *
 * @param s The summary.
 * @returns The text, lines ending in `\n`.
 */
export function formatSummary(s: BenchSummary): string {
  const lines: string[] = [];
  let head = `mq bench ${s.scenario}: ${plural(s.clients, "client")}, MQTT ${s.mqttVersion}`;
  if (s.scenario === "pub") {
    head += `, QoS ${s.qos}, ${s.payloadSize}-byte payload, topic "${s.topic}"`;
  } else if (s.scenario === "sub") head += `, QoS ${s.qos}, filter "${s.topic}"`;
  lines.push(head);
  const row = (name: string, text: string): void => void lines.push(`  ${name.padEnd(11)} ${text}`);
  row(
    "connected",
    `${formatCount(s.connected)} of ${
      formatCount(s.clients)
    } (${s.failed} failed, ${s.lost} lost), ${formatCount(s.connectRate)} connections/s`,
  );
  const seconds = (n: number): string => `${n.toFixed(3)} s`;
  switch (s.scenario) {
    case "pub":
      row("elapsed", `${seconds(s.elapsed)} (run ${seconds(s.runTime)})`);
      row("sent", `${plural(s.sent, "message")}, ${formatCount(s.rate)} msg/s`);
      if (s.qos > 0) row("acked", formatCount(s.acked));
      break;
    case "sub": {
      row("elapsed", `${seconds(s.elapsed)} (run ${seconds(s.runTime)})`);
      const mbps = s.elapsed > 0 ? s.bytes / s.elapsed / 1e6 : 0;
      row(
        "received",
        `${plural(s.received, "message")}, ${formatCount(s.rate)} msg/s, ${mbps.toFixed(1)} MB/s`,
      );
      const l = s.latency;
      if (l === null) row("latency", "- (no stamped messages)");
      else {
        row(
          "latency",
          `p50 ${formatMs(l.p50)}  p90 ${formatMs(l.p90)}  p99 ${formatMs(l.p99)}  max ${
            formatMs(l.max)
          } ms (min ${formatMs(l.min)}, mean ${formatMs(l.mean)})`,
        );
      }
      row("sequence", `${formatCount(s.gaps)} missing, ${formatCount(s.duplicates)} duplicated`);
      if (s.untimed > 0) row("unstamped", formatCount(s.untimed));
      break;
    }
    case "conn":
      row("connecting", seconds(s.elapsed));
      row("run", seconds(s.runTime));
      break;
  }
  const kinds = Object.entries(s.errorKinds).map(([kind, n]) => `${kind}: ${formatCount(n)}`);
  row("errors", kinds.length === 0 ? "0" : `${formatCount(s.errors)} (${kinds.join("; ")})`);
  if (s.interrupted) lines.push("  (interrupted)");
  return lines.map((line) => `${line}\n`).join("");
}
