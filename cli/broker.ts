/**
 * `mq broker`: run the broker from the command line, with mosquitto's flags, log lines and
 * exit codes. Runtime services (signals, standard error) come in through
 * {@linkcode BrokerCliHost}, a subset of {@linkcode CliHost}, since only `cli/main.ts` may
 * touch runtime globals.
 *
 * @module
 */

import { startBroker } from "../broker/broker.ts";
import type { Broker, BrokerListenerOptions, LogLevel } from "../broker/types.ts";
import type { SocketAdapter } from "../socket/types.ts";
import { VERSION } from "../version.ts";
import type { CliHost, CliOutput } from "./host.ts";

/** A signal `mq broker` stops on. */
export type StopSignal = "SIGINT" | "SIGTERM";

/**
 * What `mq broker` needs from the runtime: the part of {@linkcode CliHost} it uses (a
 * whole `CliHost` fits), plus a test hook.
 */
export interface BrokerCliHost {
  /**
   * Call `handler` when the process receives the signal.
   *
   * @returns A function that removes the handler.
   */
  onSignal: CliHost["onSignal"];
  /**
   * Standard error: a {@linkcode CliOutput}, or a function called with each line (kept for
   * embedding and tests). Default: `console.error`.
   */
  stderr?: CliOutput | ((line: string) => void);
  /** The socket adapter to listen with. Default: the runtime's TCP adapter. */
  adapter?: SocketAdapter;
  /** The current memory use; its `heapUsed` is published as `$SYS/broker/heap/*`. */
  memoryUsage?: CliHost["memoryUsage"];
  /** Called once the broker is listening (for tests). */
  onListening?: (broker: Broker) => void;
}

const USAGE = `mq broker ${VERSION}

mq broker is an MQTT v5.0/v3.1.1/v3.1 broker.

Usage: mq broker [-c config_file] [-h] [-p [host:]port] [-v]

 -c : specify the broker config file (not supported yet).
 -h : display this help.
 -p : start the broker listening on the specified port, on the loopback interface
      unless a host is given (-p 0.0.0.0:1883 listens on every IPv4 interface).
      May be given several times.
 -v : verbose mode - enable all logging types.`;

/** Exit code for usage errors and `-h`, as mosquitto's. */
const EXIT_USAGE = 3;

function parseListener(value: string): BrokerListenerOptions | undefined {
  let hostname = "127.0.0.1";
  let port = value;
  const colon = value.lastIndexOf(":");
  if (colon >= 0) {
    hostname = value.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
    port = value.slice(colon + 1);
    if (hostname === "") return undefined;
  }
  if (!/^\d{1,5}$/.test(port)) return undefined;
  const n = Number(port);
  if (n < 1 || n > 65_535) return undefined;
  return { hostname, port: n };
}

/**
 * Run `mq broker` until SIGINT or SIGTERM.
 *
 * @example Print the help
 * ```ts
 * import assert from "node:assert/strict";
 * import { runBroker } from "./broker.ts";
 * const lines: string[] = [];
 * const code = await runBroker(["-h"], { onSignal: () => () => {}, stderr: (l) => void lines.push(l) });
 * assert.equal(code, 3);
 * assert.match(lines.join("\n"), /Usage: mq broker/);
 * ```
 *
 * @param args The arguments after `broker`.
 * @param host Signals and output.
 * @returns The exit code: 0 after a clean stop, 1 when the broker cannot start, 3 for usage.
 */
export async function runBroker(args: readonly string[], host: BrokerCliHost): Promise<number> {
  const out = host.stderr;
  const stderr = out === undefined
    ? (line: string) => console.error(line)
    : typeof out === "function"
    ? out
    : (line: string) => out.writeText(`${line}\n`);
  const listeners: BrokerListenerOptions[] = [];
  let verbose = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    switch (arg) {
      case "-h":
      case "--help":
        stderr(USAGE);
        return EXIT_USAGE;
      case "-v":
      case "--verbose":
        verbose = true;
        break;
      case "-c":
      case "--config-file":
        if (args[i + 1] === undefined) {
          stderr("Error: -c argument given, but no config file specified.");
          return EXIT_USAGE;
        }
        stderr("Error: config files are not supported yet.");
        return 1;
      case "-p":
      case "--port": {
        const value = args[++i];
        const listener = value === undefined ? undefined : parseListener(value);
        if (listener === undefined) {
          stderr(`Error: Invalid port specified (${value ?? "none"}).`);
          return EXIT_USAGE;
        }
        listeners.push(listener);
        break;
      }
      default:
        stderr(`Error: Unknown option '${arg}'.`);
        stderr(USAGE);
        return EXIT_USAGE;
    }
  }
  const log = (message: string) => stderr(`${Math.floor(Date.now() / 1000)}: ${message}`);
  const logTypes: LogLevel[] = verbose
    ? ["error", "warning", "notice", "information", "debug"]
    : ["error", "warning", "notice", "information"];
  if (listeners.length === 0) listeners.push({ hostname: "127.0.0.1", port: 1883 });
  log("Using default config.");
  if (listeners.every((l) => isLoopback(l.hostname))) {
    log(
      "Starting in local only mode. Connections will only be possible from clients running on this machine.",
    );
    log(
      `To accept remote connections, listen on every interface: mq broker -p 0.0.0.0:${
        listeners[0]!.port
      }`,
    );
  }
  let broker: Broker;
  try {
    const options: Parameters<typeof startBroker>[0] = {
      listeners,
      logTypes,
      logger: (_level, message) => log(message),
    };
    if (host.adapter !== undefined) options.adapter = host.adapter;
    const memoryUsage = host.memoryUsage;
    if (memoryUsage !== undefined) options.memoryUsage = () => memoryUsage().heapUsed;
    broker = await startBroker(options);
  } catch (error) {
    log(`Error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  host.onListening?.(broker);
  await new Promise<void>((resolve) => {
    const removers: (() => void)[] = [];
    const stop = () => {
      for (const remove of removers) remove();
      resolve();
    };
    removers.push(host.onSignal("SIGINT", stop), host.onSignal("SIGTERM", stop));
  });
  await broker.close();
  return 0;
}

function isLoopback(hostname: string | undefined): boolean {
  return hostname === undefined || hostname === "localhost" || hostname === "::1" ||
    hostname.startsWith("127.");
}
