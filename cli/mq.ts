/**
 * The `mq` command dispatcher, separate from the entry so tests can call it in-process.
 *
 * @module
 */
import { VERSION } from "../version.ts";
import { detectRuntime } from "../socket/runtime.ts";
import { type BrokerCliHost, runBroker } from "./broker.ts";

/** What the CLI needs from the runtime (signals), supplied by `cli/main.ts`. */
export type CliHost = BrokerCliHost;

const USAGE = `mq ${VERSION}: MQTT broker, clients and library

Usage: mq <command> [options]

Commands:
  broker     run the MQTT broker (mq broker -h for its options)
  version    print the version and runtime

Options:
  -h, --help     show this help
  --version      print the version

The clients (mq pub, mq sub, mq rr) and mq passwd are being built;
see the README for their status.`;

/**
 * Run the CLI with the given arguments and return the exit code.
 *
 * @param args The arguments after the program name.
 * @param host Runtime services for long-running commands (`mq broker` stops on its signals).
 * @returns The process exit code, or a promise of it for long-running commands.
 */
export function main(
  args: readonly string[],
  host: CliHost = { onSignal: () => () => {} },
): number | Promise<number> {
  const [command] = args;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    console.log(USAGE);
    return command === undefined ? 1 : 0;
  }
  if (command === "--version" || command === "version") {
    console.log(`mq ${VERSION} (${detectRuntime()})`);
    return 0;
  }
  if (command === "broker") return runBroker(args.slice(1), host);
  console.error(`mq: unknown command "${command}"`);
  console.error(`Run "mq --help" for usage.`);
  return 1;
}
