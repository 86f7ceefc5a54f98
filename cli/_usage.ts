/**
 * Help texts of `mq pub`, `mq sub` and `mq rr`, built from the option table so they never
 * drift from what the parser accepts.
 *
 * @module
 */

import { VERSION } from "../version.ts";
import { CLIENT_OPTIONS, type ClientCommand } from "./_args.ts";

const SUMMARY: Record<ClientCommand, string> = {
  pub: "publish one message (or one per line of input) and exit",
  sub: "subscribe to topics and print the messages received",
  rr: "publish a request and print the response (MQTT 5 request/response)",
};

const SYNOPSIS: Record<ClientCommand, string> = {
  pub:
    `Usage: mq pub {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL}
              {-m message | -f file | -s | -l | -n}
              [-r] [-q qos] [--repeat N] [--repeat-delay seconds]
              [connection, will, TLS and -D property options]`,
  sub:
    `Usage: mq sub {[-h host] [--unix path] [-p port] [-u username] [-P password] -t filter... | -L URL}
              [-C count] [-E] [-R] [--retained-only] [--remove-retained] [-T filter]... [-U filter]...
              [-v] [-N] [-F format] [--pretty] [--json] [-W seconds] [--random-filter percent]
              [connection, will, TLS and -D property options]`,
  rr:
    `Usage: mq rr {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL}
             -e response-topic {-m message | -f file | -s | -n}
             [-v] [-N] [-F format] [--pretty] [--json] [-W seconds] [--latency]
             [connection, will, TLS and -D property options]`,
};

/**
 * The help text of a client command.
 *
 * @example Every option of pub is listed
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientUsage } from "./_usage.ts";
 * assert.match(clientUsage("pub"), /--repeat-delay/);
 * assert.doesNotMatch(clientUsage("pub"), /--retained-only/);
 * ```
 *
 * @param command The command.
 * @returns The text, without a final newline.
 */
export function clientUsage(command: ClientCommand): string {
  const lines = [`mq ${command} ${VERSION}: ${SUMMARY[command]}.`, "", SYNOPSIS[command], ""];
  for (const spec of CLIENT_OPTIONS) {
    if (!spec.commands.includes(command)) continue;
    const names = spec.names.join(", ");
    const value = spec.value === undefined ? "" : ` <${spec.value}>`;
    let help = spec.help;
    if (spec.default !== undefined && spec.default !== false) help += ` (default ${spec.default})`;
    if (spec.extension === true) help += " [mq]";
    lines.push(` ${`${names}${value}`.padEnd(34)} ${help}`);
  }
  lines.push(
    "",
    `Options are also read from the file given with -o, else from mosquitto's default`,
    `$XDG_CONFIG_HOME/mosquitto_${command} (or ~/.config/mosquitto_${command}), one per line.`,
    `Options marked [mq] are not in mosquitto_${command}. See docs/cli.md.`,
  );
  return lines.join("\n");
}
