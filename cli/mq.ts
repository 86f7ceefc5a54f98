/**
 * The `mq` command dispatcher, separate from the entry so tests can run every command
 * in-process with a fake {@linkcode CliHost}.
 *
 * @module
 */
import { VERSION } from "../version.ts";
import { runBench } from "./bench.ts";
import { runBroker } from "./broker.ts";
import { type ClientRunners, runClientCommand } from "./client_command.ts";
import type { CliHost } from "./host.ts";
import { runPasswd } from "./passwd.ts";

export type { CliHost } from "./host.ts";

const USAGE = `mq ${VERSION}: MQTT broker, clients and tools in one binary

Usage: mq <command> [options]

Commands:
  broker     run the MQTT broker (mosquitto's flags)
  pub        publish a message (mosquitto_pub's options)
  sub        subscribe and print messages (mosquitto_sub's options)
  rr         request/response (mosquitto_rr's options)
  passwd     manage password files (mosquitto_passwd's options)
  bench      load generator: pub, sub and conn scenarios (emqtt-bench's style)
  version    print the version

Options:
  -h, --help     show this help
  --version      print the version, runtime and target (os-arch)

Run "mq <command> --help" for the options of a command.`;

/** Options for {@linkcode main}. */
export interface MainOptions {
  /** Implementations of pub, sub and rr (wired in by the entry once the client exists). */
  clients?: ClientRunners;
}

/**
 * Run the CLI with the given arguments and return the exit code.
 *
 * @example Print the version
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./mq.ts";
 * let text = "";
 * const out = { isTTY: false, write() {}, writeText(t: string) { text += t; } };
 * const host = { runtime: "test", platform: "linux", stdout: out, stderr: out } as unknown as
 *   Parameters<typeof main>[1];
 * assert.equal(await main(["--version"], host), 0);
 * assert.match(text, /^mq \d+\.\d+\.\d+ \(test, linux\)\n$/);
 * ```
 *
 * @param args The arguments after the program name.
 * @param host The runtime: output, files, signals (see `cli/main.ts`).
 * @param options Command implementations.
 * @returns The process exit code.
 */
export async function main(
  args: readonly string[],
  host: CliHost,
  options: MainOptions = {},
): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case undefined:
      host.stderr.writeText(`${USAGE}\n`);
      return 1;
    case "-h":
    case "--help":
    case "help":
      host.stdout.writeText(`${USAGE}\n`);
      return 0;
    case "--version":
    case "version":
      host.stdout.writeText(
        `mq ${VERSION} (${host.runtime}, ${host.platform}${host.arch ? `-${host.arch}` : ""})\n`,
      );
      return 0;
    case "broker":
      return await runBroker(rest, host);
    case "pub":
    case "sub":
    case "rr":
      return await runClientCommand(command, rest, host, options.clients);
    case "passwd":
      return await runPasswd(rest, host);
    case "bench":
      return await runBench(rest, host);
  }
  host.stderr.writeText(`mq: unknown command "${command}"\n`);
  host.stderr.writeText(`Run "mq --help" for usage.\n`);
  return 1;
}
