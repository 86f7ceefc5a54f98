/**
 * Broker benchmark (not a test): Debian's mosquitto, `mq broker` as the Bun compiled binary
 * and `mq broker` under Deno, side by side on loopback, driven by `mq bench` (issue #9).
 *
 * Every run starts a fresh broker on a free loopback port, runs one scenario against it with
 * `mq bench … --json` as subprocesses (under Bun, from source), and stops it. Runs are
 * interleaved (mosquitto, Bun, Deno, mosquitto, Bun, Deno, …) over `--rounds` rounds, and the
 * table shows per scenario the median of each broker and its ratio to mosquitto's median.
 * Messages are counted where they arrive (the `mq bench sub` processes), so a rate is a
 * delivered rate; at QoS 1 the messages the broker acknowledged but never delivered are
 * reported as lost.
 *
 * Brokers get the same settings: `listener <port> 127.0.0.1`, `allow_anonymous true`,
 * `max_queued_messages 1000` (mq's default and mosquitto's), default logging to standard
 * error, no persistence. mosquitto also gets `set_tcp_nodelay true`: mq always disables
 * Nagle's algorithm, and without it mosquitto's small writes wait for delayed ACKs.
 *
 * Scenarios (`--duration` seconds each, default 5): QoS 0 1→1 and 4→4 with 64 B payloads,
 * QoS 0 1→1 with 1 KB, QoS 1 4→4 64 B, QoS 0 fan-out 1→100 and 1→1000, 10,000 connections
 * (connect rate, broker RSS per connection from /proc/<pid>/status), 10,000 retained messages
 * then a `#` subscriber (its delivery rate; a second one shows the warm rate), 1→1 latency at 10,000 msg/s (p50, p99; after a
 * discarded 2 s warm-up run at the same rate, for every broker).
 *
 * Run: `deno task bench:compare [options]` (or `npm run bench:compare -- [options]`), i.e.
 * `deno run -A scripts/bench_compare.ts [options]`. Linux only (it reads /proc). Options:
 *   --rounds N        rounds (default 3)
 *   --duration S      seconds per message-rate run (default 5)
 *   --quick           1 round of 2 s runs (smoke use)
 *   --only a,b        only these scenarios (ids in --help)
 *   --brokers a,b     only these brokers: mosquitto, bun, deno (default all three)
 *   --no-compile      use dist/mq-<os>-<arch> as it is (default: build it when it is missing
 *                     or older than the sources, with scripts/compile.ts --host)
 *   --json            print the raw results as JSON on standard output (the table then goes
 *                     to standard error)
 *
 * Every process it starts is stopped by PID at the end, on errors and on SIGINT/SIGTERM.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MOSQUITTO = "/usr/sbin/mosquitto";
const CLIENTS_10K = 10_000;
/** Seconds of discarded publishing before the latency run. */
const LATENCY_WARMUP = 2;
/** Seconds `mq bench conn` holds its connections (the RSS is read meanwhile). */
const CONN_HOLD = 3;
/** Longest wait for any one step (broker start, a subscriber set, a whole `mq bench`). */
const STEP_TIMEOUT = 120_000;

function tool(name: string): string {
  const local = join(ROOT, "node_modules/.bin", name);
  return existsSync(local) ? local : name;
}

const BUN = tool("bun");
const DENO = tool("deno");
const HOST_TARGET = `${
  process.platform === "win32" ? "windows" : process.platform
}-${process.arch}`;
const BINARY = join(ROOT, "dist", `mq-${HOST_TARGET}`);

const HELP = `Usage: deno run -A scripts/bench_compare.ts [options]

Runs the same mq bench scenarios against Debian's mosquitto, the mq Bun binary and mq under
Deno (each a fresh broker on a loopback port per run, interleaved), and prints medians and the
ratio to mosquitto.

Options:
  --rounds N       rounds (default 3)
  --duration S     seconds per message-rate run (default 5)
  --quick          1 round of 2 s runs
  --only a,b       only these scenarios: ${"%SCENARIOS%"}
  --brokers a,b    only these brokers: mosquitto, bun, deno
  --no-compile     use ${
  BINARY.slice(ROOT.length)
} as it is (else it is built when missing or stale)
  --json           raw results as JSON on standard output (the table goes to standard error)
  -h, --help       show this help`;

// ---------------------------------------------------------------------------------------
// Child processes, all tracked so that every one is stopped by PID whatever happens.

interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<number | string>;
  stdout(): string;
  /** The last 64 KB of standard error. */
  stderr(): string;
  done: boolean;
}

const children = new Set<Child>();

function launch(name: string, command: string, args: readonly string[]): Child {
  const proc = spawn(command, args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  let err = "";
  const decoder = new TextDecoder();
  const errDecoder = new TextDecoder();
  proc.stdout!.on("data", (chunk: Uint8Array) => {
    out += decoder.decode(chunk, { stream: true });
  });
  // Brokers log every connection: keep reading, keep only the tail.
  proc.stderr!.on("data", (chunk: Uint8Array) => {
    err += errDecoder.decode(chunk, { stream: true });
    if (err.length > 131_072) err = err.slice(-65_536);
  });
  const child: Child = {
    name,
    proc,
    pid: proc.pid ?? -1,
    exited: new Promise((resolve) => {
      proc.once("error", (error) => {
        err += String(error);
        resolve(-1);
      });
      proc.once("close", (code, signal) => resolve(code ?? signal ?? -1));
    }),
    stdout: () => out,
    stderr: () => err.slice(-65_536),
    done: false,
  };
  children.add(child);
  void child.exited.then(() => {
    child.done = true;
    children.delete(child);
  });
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has ended. */
async function stop(child: Child, graceMs = 3_000): Promise<void> {
  if (child.done) return;
  child.proc.kill("SIGTERM");
  const timer = setTimeout(() => child.proc.kill("SIGKILL"), graceMs);
  await child.exited;
  clearTimeout(timer);
}

/** The directory of the brokers' configuration files, removed at the end. */
let workDir: string | undefined;

/** Kill every process still running (by PID) and remove the work directory. */
function cleanUp(): void {
  for (const child of children) {
    if (!child.done) child.proc.kill("SIGKILL");
  }
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  workDir = undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Wait for the process to end; kill it after `timeoutMs`. */
async function finish(child: Child, timeoutMs: number): Promise<number | string> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.proc.kill("SIGKILL");
  }, timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  if (timedOut) throw new Error(`${child.name} timed out after ${timeoutMs} ms`);
  return code;
}

/** The JSON summary `mq bench --json` printed (its exit code is not an error here). */
function benchResult(child: Child): BenchSummary {
  const line = child.stdout().trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as BenchSummary;
  } catch {
    throw new Error(`${child.name} printed no summary: ${child.stderr().slice(-2_000)}`);
  }
}

/** The fields of `mq bench --json` used here (docs/bench.md lists them all). */
interface BenchSummary {
  connected: number;
  failed: number;
  lost: number;
  connectRate: number;
  elapsed: number;
  runTime: number;
  sent: number;
  acked: number;
  received: number;
  rate: number;
  latency: { p50: number; p90: number; p99: number; max: number } | null;
  gaps: number;
  duplicates: number;
  errors: number;
  errorKinds: Record<string, number>;
}

// ---------------------------------------------------------------------------------------
// /proc readings (Linux).

const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;

/** User plus system CPU seconds of a process so far. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** Resident set size in KiB (VmRSS). */
function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (match === null) throw new Error(`Cannot read VmRSS of process ${pid}`);
  return Number(match[1]);
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * The broker's established connections on `port`, and whether every socket on that port
 * (both ends) has empty queues: nothing written is waiting to be read.
 */
function loopbackState(port: number): { established: number; quiet: boolean } {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  let established = 0;
  let quiet = true;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n")) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    const remote = f[2];
    if (local === undefined || remote === undefined || f[3] !== "01") continue;
    const isServer = local.endsWith(`:${hex}`);
    if (!isServer && !remote.endsWith(`:${hex}`)) continue;
    if (isServer) established++;
    if (f[4] !== "00000000:00000000") quiet = false;
  }
  return { established, quiet };
}

/**
 * Wait until the broker holds `n` connections on `port` and all of them are quiet twice in a
 * row (CONNECT, SUBSCRIBE and their acknowledgements all read), then 100 ms more. If fewer
 * connect, go on once the count has not moved for 2 s (the summary counts the failures).
 */
async function waitConnected(port: number, n: number, broker: Child, client: Child): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT;
  let streak = 0;
  let still = 0;
  let previous = -1;
  while (streak < 2 && still < 40) {
    for (const c of [broker, client]) {
      if (c.done) throw new Error(`${c.name} exited: ${c.stderr().slice(-2_000)}`);
    }
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${n} connections`);
    await sleep(50);
    const state = loopbackState(port);
    streak = state.established >= n && state.quiet ? streak + 1 : 0;
    still = state.established === previous && state.quiet ? still + 1 : 0;
    previous = state.established;
  }
  await sleep(100);
}

/**
 * Wait until none of the processes used more than 5% of a core for 250 ms, `maxMs` passed, or
 * `done()` is true.
 */
async function waitIdle(
  pids: readonly number[],
  maxMs: number,
  done: () => boolean = () => false,
): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = pids.map(cpuSeconds);
  while (Date.now() < deadline && !done()) {
    await sleep(250);
    const now = pids.map(cpuSeconds);
    const busy = now.some((t, i) => !(t - last[i]! <= 0.0125));
    last = now;
    if (!busy) return;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------
// Brokers.

type BrokerName = "mosquitto" | "bun" | "deno";
const BROKERS: readonly BrokerName[] = ["mosquitto", "bun", "deno"];
const BROKER_LABELS: Record<BrokerName, string> = {
  mosquitto: "mosquitto",
  bun: "mq (Bun binary)",
  deno: "mq (Deno)",
};

interface RunningBroker {
  readonly child: Child;
  readonly port: number;
}

function brokerCommand(name: BrokerName, conf: string): [string, string[]] {
  switch (name) {
    case "mosquitto":
      return [MOSQUITTO, ["-c", conf]];
    case "bun":
      return [BINARY, ["broker", "-c", conf]];
    case "deno":
      return [DENO, ["run", "-A", join(ROOT, "cli/main.ts"), "broker", "-c", conf]];
  }
}

async function startBroker(name: BrokerName, dir: string): Promise<RunningBroker> {
  let lastError: unknown;
  // The free port can be taken before the broker binds it: try a second one.
  for (let attempt = 0; attempt < 2; attempt++) {
    const port = await freePort();
    const conf = join(dir, `${name}.conf`);
    const lines = [
      `listener ${port} 127.0.0.1`,
      "allow_anonymous true",
      "max_queued_messages 1000",
      // mq always sets TCP_NODELAY (and would warn that it skips the option).
      ...(name === "mosquitto" ? ["set_tcp_nodelay true"] : []),
    ];
    writeFileSync(conf, `${lines.join("\n")}\n`);
    const [command, args] = brokerCommand(name, conf);
    const child = launch(name, command, args);
    const deadline = Date.now() + 30_000;
    while (!/version \S+ running/.test(child.stderr()) && !child.done && Date.now() < deadline) {
      await sleep(20);
    }
    if (!child.done && /version \S+ running/.test(child.stderr())) return { child, port };
    lastError = new Error(`Cannot start ${name}: ${child.stderr().slice(-2_000)}`);
    await stop(child);
  }
  throw lastError;
}

// ---------------------------------------------------------------------------------------
// Scenarios.

/** The numbers of one run, by metric key. */
type Measures = Record<string, number>;

interface RunContext {
  broker: RunningBroker;
  duration: number;
}

interface Metric {
  key: string;
  label: string;
  /** Issue #9's target as a ratio to mosquitto, for the table. */
  target: string;
  digits?: number;
}

interface Scenario {
  id: string;
  title: string;
  metrics: Metric[];
  run(ctx: RunContext): Promise<Measures>;
}

function bench(name: string, port: number, args: readonly string[]): Child {
  return launch(name, BUN, [
    join(ROOT, "cli/main.ts"),
    "bench",
    ...args,
    "-p",
    String(port),
    "--json",
    "--quiet",
  ]);
}

interface FlowOptions {
  publishers: number;
  subscribers: number;
  qos: 0 | 1;
  size: number;
  /** Each subscriber hears one publisher (`bench/%i` both sides), else all hear `bench/fan`. */
  pairs: boolean;
  /** `-I`: milliseconds between messages per publisher, 0 for as fast as possible. */
  interval: number;
}

/** Subscribers first, then publishers for `duration`; counted at the subscribers. */
async function flow(ctx: RunContext, o: FlowOptions): Promise<Measures> {
  const { broker, duration } = ctx;
  const topic = o.pairs ? "bench/%i" : "bench/fan";
  const sub = bench("mq bench sub", broker.port, [
    "sub",
    "-c",
    String(o.subscribers),
    "-t",
    topic,
    "-q",
    String(o.qos),
    "--duration",
    String(duration + 30),
  ]);
  try {
    await waitConnected(broker.port, o.subscribers, broker.child, sub);
    const cpu0 = [broker.child.pid, sub.pid].map(cpuSeconds);
    const t0 = performance.now();
    const pub = bench("mq bench pub", broker.port, [
      "pub",
      "-c",
      String(o.publishers),
      "-t",
      topic,
      "-q",
      String(o.qos),
      "-s",
      String(o.size),
      "-I",
      String(o.interval),
      "--duration",
      String(duration),
    ]);
    const pubCpu0 = cpuSeconds(pub.pid);
    let pubCpu = pubCpu0;
    const sampler = setInterval(() => {
      const t = cpuSeconds(pub.pid);
      if (!Number.isNaN(t)) pubCpu = t;
    }, 100);
    await finish(pub, duration * 1000 + STEP_TIMEOUT).finally(() => clearInterval(sampler));
    const p = benchResult(pub);
    // Let the broker deliver what it still holds, then end the subscribers.
    await waitIdle([broker.child.pid, sub.pid], 20_000);
    const wall = (performance.now() - t0) / 1000;
    const cpu1 = [broker.child.pid, sub.pid].map(cpuSeconds);
    sub.proc.kill("SIGINT");
    await finish(sub, 30_000);
    const s = benchResult(sub);
    const expected = p.sent * (o.pairs ? 1 : o.subscribers);
    const ackedExpected = p.acked * (o.pairs ? 1 : o.subscribers);
    return {
      delivered: s.rate,
      published: p.rate,
      sent: p.sent,
      acked: p.acked,
      received: s.received,
      deliveredShare: expected > 0 ? s.received / expected : 0,
      lost: o.qos > 0 ? Math.max(0, ackedExpected - (s.received - s.duplicates)) : 0,
      gaps: s.gaps,
      duplicates: s.duplicates,
      p50: s.latency?.p50 ?? Number.NaN,
      p99: s.latency?.p99 ?? Number.NaN,
      max: s.latency?.max ?? Number.NaN,
      errors: p.errors + s.errors,
      brokerCpu: (cpu1[0]! - cpu0[0]!) / wall,
      subCpu: (cpu1[1]! - cpu0[1]!) / wall,
      pubCpu: (pubCpu - pubCpu0) / wall,
    };
  } finally {
    await stop(sub);
  }
}

async function connections(ctx: RunContext): Promise<Measures> {
  const { broker } = ctx;
  const pid = broker.child.pid;
  await sleep(300);
  const rss0 = rssKiB(pid);
  const fd0 = fdCount(pid);
  const cpu0 = cpuSeconds(pid);
  const conn = bench("mq bench conn", broker.port, [
    "conn",
    "-c",
    String(CLIENTS_10K),
    "--duration",
    String(CONN_HOLD),
  ]);
  try {
    // Poll the broker's open files (cheap), not /proc/net/tcp, while connections are made.
    let held = 0;
    while (!conn.done) {
      await sleep(200);
      held = fdCount(pid) - fd0;
      if (held >= CLIENTS_10K) break;
    }
    const cpu1 = cpuSeconds(pid);
    let rss1 = Number.NaN;
    if (!conn.done) {
      await sleep(500);
      held = fdCount(pid) - fd0;
      rss1 = rssKiB(pid);
    }
    await finish(conn, STEP_TIMEOUT);
    const c = benchResult(conn);
    return {
      connectRate: c.connectRate,
      connected: c.connected,
      failed: c.failed,
      held,
      rssBeforeKiB: rss0,
      rssHeldKiB: rss1,
      rssPerConnKiB: held > 0 ? (rss1 - rss0) / held : Number.NaN,
      errors: c.errors,
      brokerCpuSeconds: cpu1 - cpu0,
    };
  } finally {
    await stop(conn);
  }
}

/** One `retained/#` subscriber until it has every message (or everything is idle). */
async function retainedSubscriber(broker: RunningBroker): Promise<BenchSummary> {
  // QoS 0, so that nothing limits the delivery but the broker (at QoS 1 both brokers send
  // the in-flight window plus max_queued_messages and drop the rest).
  const sub = bench("mq bench sub", broker.port, [
    "sub",
    "-t",
    "retained/#",
    "-n",
    String(CLIENTS_10K),
    "--duration",
    "30",
  ]);
  try {
    // Ends by itself with every message; if some never come, once everything is idle.
    await sleep(500);
    await waitIdle([broker.child.pid, sub.pid], 30_000, () => sub.done);
    if (!sub.done) sub.proc.kill("SIGINT");
    await finish(sub, 30_000);
  } finally {
    await stop(sub);
  }
  return benchResult(sub);
}

async function retained(ctx: RunContext): Promise<Measures> {
  const { broker } = ctx;
  const pub = bench("mq bench pub", broker.port, [
    "pub",
    "-c",
    String(CLIENTS_10K),
    "-n",
    "1",
    "-q",
    "1",
    "-r",
    "-t",
    "retained/%i",
  ]);
  try {
    await finish(pub, STEP_TIMEOUT);
  } finally {
    await stop(pub);
  }
  const p = benchResult(pub);
  await waitIdle([broker.child.pid], 10_000);
  const cpu0 = cpuSeconds(broker.child.pid);
  const s = await retainedSubscriber(broker);
  // A second subscriber the same way: the broker's delivery path is then warm (for mq, the
  // JIT has compiled it), which the first subscriber of a fresh broker does not see.
  const s2 = await retainedSubscriber(broker);
  return {
    delivered: s.rate,
    deliveredWarm: s2.rate,
    received: s.received,
    stored: p.acked,
    elapsed: s.elapsed,
    subRunTime: s.runTime,
    errors: p.errors + s.errors + s2.errors,
    brokerCpuSeconds: cpuSeconds(broker.child.pid) - cpu0,
  };
}

const RATE = { label: "delivered msg/s" } as const;
const QOS0 = "Bun ≥ 3x, Deno ≥ 1.5x";

const SCENARIOS: readonly Scenario[] = [
  {
    id: "qos0-1to1",
    title: "QoS 0, 1→1, 64 B",
    metrics: [{ key: "delivered", ...RATE, target: QOS0 }],
    run: (ctx) =>
      flow(ctx, { publishers: 1, subscribers: 1, qos: 0, size: 64, pairs: true, interval: 0 }),
  },
  {
    id: "qos0-4to4",
    title: "QoS 0, 4→4, 64 B",
    metrics: [{ key: "delivered", ...RATE, target: QOS0 }],
    run: (ctx) =>
      flow(ctx, { publishers: 4, subscribers: 4, qos: 0, size: 64, pairs: true, interval: 0 }),
  },
  {
    id: "qos0-1to1-1k",
    title: "QoS 0, 1→1, 1 KB",
    metrics: [{ key: "delivered", ...RATE, target: QOS0 }],
    run: (ctx) =>
      flow(ctx, { publishers: 1, subscribers: 1, qos: 0, size: 1024, pairs: true, interval: 0 }),
  },
  {
    id: "qos1-4to4",
    title: "QoS 1, 4→4, 64 B",
    metrics: [
      { key: "delivered", ...RATE, target: "Bun ≥ 2x, Deno ≥ 1.5x" },
      { key: "lostShare", label: "lost (% of acked)", target: "0", digits: 2 },
    ],
    run: async (ctx) => {
      const m = await flow(ctx, {
        publishers: 4,
        subscribers: 4,
        qos: 1,
        size: 64,
        pairs: true,
        interval: 0,
      });
      m.lostShare = m.acked! > 0 ? (100 * m.lost!) / m.acked! : 0;
      return m;
    },
  },
  {
    id: "fanout-100",
    title: "QoS 0, fan-out 1→100, 64 B",
    metrics: [{ key: "delivered", label: "deliveries/s", target: QOS0 }],
    run: (ctx) =>
      flow(ctx, { publishers: 1, subscribers: 100, qos: 0, size: 64, pairs: false, interval: 0 }),
  },
  {
    id: "fanout-1000",
    title: "QoS 0, fan-out 1→1000, 64 B",
    metrics: [{ key: "delivered", label: "deliveries/s", target: QOS0 }],
    run: (ctx) =>
      flow(ctx, { publishers: 1, subscribers: 1000, qos: 0, size: 64, pairs: false, interval: 0 }),
  },
  {
    id: "conn-10k",
    title: "10,000 connections",
    metrics: [
      { key: "connectRate", label: "connections/s", target: "≥ 0.8x" },
      { key: "rssPerConnKiB", label: "RSS per connection (KiB)", target: "≤ 3x" },
    ],
    run: connections,
  },
  {
    id: "retained-10k",
    title: "10,000 retained → `#` subscriber",
    metrics: [
      { key: "delivered", label: "deliveries/s", target: "≥ 2x" },
      { key: "deliveredWarm", label: "deliveries/s, 2nd subscriber", target: "" },
      { key: "received", label: "messages delivered", target: "10,000" },
    ],
    run: retained,
  },
  {
    id: "latency-10k",
    title: "Latency 1→1 at 10,000 msg/s",
    metrics: [
      { key: "p50", label: "p50 (ms)", target: "≤ 1.0x", digits: 3 },
      { key: "p99", label: "p99 (ms)", target: "≤ 1.5x", digits: 3 },
    ],
    run: async (ctx) => {
      const o: FlowOptions = {
        publishers: 1,
        subscribers: 1,
        qos: 0,
        size: 64,
        pairs: true,
        interval: 0.1,
      };
      // Steady state, for every broker alike: a warm-up run at the same rate is discarded
      // first. A fresh mq broker's code is still being compiled by the runtime's JIT in its
      // first second, which shows in the tail (docs/performance.md).
      await flow({ ...ctx, duration: LATENCY_WARMUP }, o);
      return await flow(ctx, o);
    },
  },
];

// ---------------------------------------------------------------------------------------
// Options, the main loop and the table.

interface Options {
  rounds: number;
  duration: number;
  only: string[];
  brokers: BrokerName[];
  compile: boolean;
  json: boolean;
}

function fail(message: string): never {
  console.error(`bench_compare: ${message}`);
  process.exit(1);
}

function parseOptions(args: readonly string[]): Options {
  const o: Options = {
    rounds: 3,
    duration: 5,
    only: [],
    brokers: [...BROKERS],
    compile: true,
    json: false,
  };
  let quick = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      const v = eq > 0 ? arg.slice(eq + 1) : args[++i];
      if (v === undefined || v === "") fail(`option "${flag}" needs a value`);
      return v;
    };
    const number = (min: number): number => {
      const v = value();
      const n = Number(v);
      if (!Number.isFinite(n) || n < min) fail(`option "${flag}": "${v}" is not a number ≥ ${min}`);
      return n;
    };
    const list = (allowed: readonly string[]): string[] => {
      const names = value().split(",").map((s) => s.trim()).filter((s) => s !== "");
      for (const name of names) {
        if (!allowed.includes(name)) {
          fail(`option "${flag}": unknown "${name}", expected one of ${allowed.join(", ")}`);
        }
      }
      return names;
    };
    switch (flag) {
      case "-h":
      case "--help":
        console.log(HELP.replace("%SCENARIOS%", SCENARIOS.map((s) => s.id).join(", ")));
        process.exit(0);
        break;
      case "--rounds":
        o.rounds = Math.floor(number(1));
        break;
      case "--duration":
        o.duration = number(0.5);
        break;
      case "--quick":
        quick = true;
        break;
      case "--only":
        o.only = list(SCENARIOS.map((s) => s.id));
        break;
      case "--brokers":
        o.brokers = list(BROKERS) as BrokerName[];
        break;
      case "--no-compile":
        o.compile = false;
        break;
      case "--json":
        o.json = true;
        break;
      default:
        fail(`unknown option "${arg}" (see --help)`);
    }
  }
  if (quick) {
    o.rounds = 1;
    o.duration = 2;
  }
  return o;
}

function newestSource(): number {
  let newest = 0;
  for (const dir of ["cli", "broker", "protocol", "socket", "store", "client"]) {
    for (const entry of readdirSync(join(ROOT, dir), { recursive: true })) {
      const name = String(entry);
      if (name.endsWith(".ts")) newest = Math.max(newest, statSync(join(ROOT, dir, name)).mtimeMs);
    }
  }
  for (const file of ["mod.ts", "version.ts", "deno.json"]) {
    newest = Math.max(newest, statSync(join(ROOT, file)).mtimeMs);
  }
  return newest;
}

function ensureBinary(o: Options): void {
  if (!o.brokers.includes("bun")) return;
  const present = existsSync(BINARY);
  if (!o.compile) {
    if (!present) fail(`${BINARY} is missing: run scripts/compile.ts --host or drop --no-compile`);
    return;
  }
  if (present && statSync(BINARY).mtimeMs >= newestSource()) return;
  console.error(`bench_compare: ${present ? "rebuilding the stale" : "building"} ${BINARY}`);
  const result = spawnSync(DENO, ["run", "-A", join(ROOT, "scripts/compile.ts"), "--host"], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (result.status !== 0 || !existsSync(BINARY)) fail("scripts/compile.ts --host failed");
}

function version(command: string, args: readonly string[]): string {
  const r = spawnSync(command, args, { encoding: "utf8" });
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n")[0] ?? "";
}

function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

function format(value: number, digits?: number): string {
  if (!Number.isFinite(value)) return "—";
  if (digits !== undefined) return value.toFixed(digits);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US");
  return value.toLocaleString("en-US", { maximumSignificantDigits: 3 });
}

interface RunRecord {
  scenario: string;
  broker: BrokerName;
  round: number;
  seconds: number;
  measures: Measures;
  error?: string;
}

function table(records: readonly RunRecord[], o: Options): string {
  const scenarios = SCENARIOS.filter((s) => o.only.length === 0 || o.only.includes(s.id));
  const header = ["scenario", "metric", ...o.brokers.map((b) => BROKER_LABELS[b]), "target"];
  const rows: string[][] = [];
  for (const s of scenarios) {
    for (const m of s.metrics) {
      const medians = o.brokers.map((b) =>
        median(
          records.filter((r) => r.scenario === s.id && r.broker === b && r.error === undefined)
            .map((r) => r.measures[m.key] ?? Number.NaN),
        )
      );
      const reference = o.brokers.indexOf("mosquitto") >= 0
        ? medians[o.brokers.indexOf("mosquitto")]!
        : Number.NaN;
      const cells = o.brokers.map((b, i) => {
        const v = medians[i]!;
        const text = format(v, m.digits);
        if (b === "mosquitto" || !Number.isFinite(v) || !(reference > 0)) return text;
        return `${text} (${(v / reference).toFixed(2)}x)`;
      });
      rows.push([s.title, m.label, ...cells, m.target]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${
      cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")
    } |`;
  const rule = `| ${
    widths.map((
      w,
      i,
    ) => (i < 2 || i === widths.length - 1 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`))
      .join(" | ")
  } |`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

function describe(s: Scenario, m: Measures): string {
  if (s.id === "conn-10k") {
    return `${format(m.connectRate!)} conn/s, ${format(m.rssPerConnKiB!)} KiB/conn`;
  }
  if (s.id === "retained-10k") {
    return `${format(m.received!)} delivered, ${format(m.delivered!)} msg/s`;
  }
  if (s.id === "latency-10k") return `p50 ${format(m.p50!, 3)} ms, p99 ${format(m.p99!, 3)} ms`;
  const lost = m.lost! > 0 ? `, lost ${format(m.lost!)}` : "";
  return `${format(m.delivered!)} msg/s${lost}`;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (process.platform !== "linux") fail("it reads /proc: Linux only");
  if (o.brokers.includes("mosquitto") && !existsSync(MOSQUITTO)) {
    fail(`${MOSQUITTO} is missing: apt-get install mosquitto`);
  }
  ensureBinary(o);
  const started = performance.now();
  const scenarios = SCENARIOS.filter((s) => o.only.length === 0 || o.only.includes(s.id));
  const dir = mkdtempSync(join(tmpdir(), "mq-bench-compare-"));
  workDir = dir;
  const records: RunRecord[] = [];
  const total = o.rounds * scenarios.length * o.brokers.length;
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? "",
    kernel: version("uname", ["-sr"]),
    mosquitto: version(MOSQUITTO, ["-h"]),
    bun: version(BUN, ["--version"]),
    deno: version(DENO, ["--version"]),
    git: version("git", ["-C", ROOT, "describe", "--always", "--dirty"]),
    loadBefore: readFileSync("/proc/loadavg", "utf8").trim(),
  };
  console.error(
    `bench_compare: ${o.rounds} round(s) × ${scenarios.length} scenario(s) × ` +
      `${o.brokers.length} broker(s), ${o.duration} s per message-rate run; load ${machine.loadBefore}`,
  );
  try {
    for (let round = 1; round <= o.rounds; round++) {
      for (const s of scenarios) {
        for (const b of o.brokers) {
          const t0 = performance.now();
          const record: RunRecord = { scenario: s.id, broker: b, round, seconds: 0, measures: {} };
          let broker: RunningBroker | undefined;
          try {
            broker = await startBroker(b, dir);
            record.measures = await s.run({ broker, duration: o.duration });
          } catch (error) {
            record.error = error instanceof Error ? error.message : String(error);
          } finally {
            if (broker !== undefined) await stop(broker.child);
          }
          record.seconds = Math.round(performance.now() - t0) / 1000;
          records.push(record);
          const result = record.error !== undefined
            ? `FAILED: ${record.error.split("\n")[0]}`
            : describe(s, record.measures);
          console.error(
            `[${records.length}/${total}] round ${round} ${s.id} ${BROKER_LABELS[b]}: ${result} ` +
              `(${record.seconds.toFixed(1)} s)`,
          );
        }
      }
    }
  } finally {
    cleanUp();
  }
  const seconds = (performance.now() - started) / 1000;
  const text = table(records, o);
  const summary = `Total run time ${seconds.toFixed(0)} s; ${
    records.filter((r) => r.error !== undefined).length
  } failed run(s); medians of ${o.rounds} round(s), ratio to mosquitto in brackets.`;
  if (o.json) {
    console.error(`${text}\n\n${summary}`);
    const options = { ...o, clientsPer10k: CLIENTS_10K, connHold: CONN_HOLD };
    console.log(JSON.stringify({ machine, options, seconds, runs: records }, null, 2));
  } else {
    console.log(`${text}\n\n${summary}`);
  }
}

let signalled = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (signalled) process.exit(130);
    signalled = true;
    console.error(`bench_compare: ${signal}, stopping ${children.size} process(es)`);
    cleanUp();
    process.exit(signal === "SIGINT" ? 130 : 143);
  });
}
process.on("exit", cleanUp);

main().catch((error) => {
  cleanUp();
  console.error(`bench_compare: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
