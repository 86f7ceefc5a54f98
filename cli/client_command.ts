/**
 * The shell of `mq pub`, `mq sub` and `mq rr`: parse the arguments (options files
 * included), print help, the version or a usage error, then hand the typed options to a
 * {@linkcode ClientRunner} that connects and does the work. The runners are wired in when
 * the client library lands; until then the commands stop after validating their options.
 *
 * @module
 */

import { VERSION } from "../version.ts";
import { type ClientCommand, type ClientOptionsMap, ExitCode, parseClientArgs } from "./_args.ts";
import { clientUsage } from "./_usage.ts";
import type { CliHost } from "./host.ts";

/** Does the work of a client command with parsed options; returns the exit code. */
export type ClientRunner<C extends ClientCommand> = (
  options: ClientOptionsMap[C],
  host: CliHost,
) => Promise<number>;

/** The runners per command; a missing one reports that the command is not available yet. */
export type ClientRunners = { [C in ClientCommand]?: ClientRunner<C> };

/**
 * Run `mq pub`, `mq sub` or `mq rr`: usage errors print one line and a hint on standard
 * error and return 1, as mosquitto's clients do; `--help` prints the usage on standard
 * output and returns 0; `--version` prints the version and returns 0.
 *
 * @example A wildcard in a publish topic
 * ```ts
 * import assert from "node:assert/strict";
 * import { runClientCommand } from "./client_command.ts";
 * let err = "";
 * const out = { isTTY: false, write() {}, writeText(t: string) { err += t; } };
 * const host = {
 *   env: {}, platform: "linux", runtime: "test", stdout: out, stderr: out,
 *   readFile: () => Promise.reject(new Error("none")),
 * } as unknown as Parameters<typeof runClientCommand>[2];
 * assert.equal(await runClientCommand("pub", ["-t", "a/#", "-m", "x"], host), 1);
 * assert.match(err, /^Error: Invalid publish topic/);
 * ```
 *
 * @param command The command.
 * @param args The arguments after the command name.
 * @param host The runtime.
 * @param runners The implementations, keyed by command.
 * @returns The exit code.
 */
export async function runClientCommand(
  command: ClientCommand,
  args: readonly string[],
  host: CliHost,
  runners: ClientRunners = {},
): Promise<number> {
  const result = await parseClientArgs(command, args, host);
  switch (result.kind) {
    case "help":
      host.stdout.writeText(`${clientUsage(command)}\n`);
      return ExitCode.Success;
    case "version":
      host.stdout.writeText(`mq ${command} ${VERSION} (${host.runtime})\n`);
      return ExitCode.Success;
    case "error":
      host.stderr.writeText(`Error: ${result.message}\n`);
      host.stderr.writeText(`Use 'mq ${command} --help' to see usage.\n`);
      return result.exitCode;
  }
  const runner = runners[command] as ClientRunner<typeof command> | undefined;
  if (runner === undefined) {
    if (!result.options.quiet) {
      host.stderr.writeText(
        `Error: mq ${command} cannot connect yet: the MQTT client is still being built.\n`,
      );
    }
    return ExitCode.Error;
  }
  return await runner(result.options, host);
}
