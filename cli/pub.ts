/**
 * `mq pub`: publish a message (or each line of standard input) and exit, as
 * mosquitto_pub 2.0 does.
 *
 * @module
 */

import { PublishRefusedError, ServerLimitError } from "../client/errors.ts";
import type { PublishOptions } from "../client/options.ts";
import type { Properties } from "../protocol/properties.ts";
import type { PubOptions, RrOptions } from "./_args.ts";
import {
  EXIT_CONNECTION_LOST,
  openClient,
  printError,
  reasonString,
  STOP_SIGNALS,
} from "./_connection.ts";
import type { CliHost } from "./host.ts";

/**
 * Read the payload of `-m`, `-f`, `-s` or `-n` (not `-l`), printing mosquitto's error for
 * an unreadable file.
 *
 * @param o The options.
 * @param host The runtime.
 * @returns The payload, or `undefined` after printing an error.
 */
export async function readPayload(
  o: PubOptions | RrOptions,
  host: CliHost,
): Promise<Uint8Array | undefined> {
  const m = o.message;
  switch (m.kind) {
    case "message":
      return m.payload;
    case "null":
    case "lines":
      return new Uint8Array(0);
    case "stdin":
      return await host.stdin.readAll();
    case "file":
      try {
        return await host.readFile(m.path);
      } catch {
        printError(o, host, `Error: Unable to open file "${m.path}".`);
        printError(o, host, "Error loading input file.");
        return undefined;
      }
  }
}

/** Split `-D publish` properties into what the client takes and whether aliases are wanted. */
export function publishProperties(o: PubOptions | RrOptions): {
  properties: Properties | undefined;
  topicAliases: boolean;
} {
  if (o.protocolVersion !== 5) return { properties: undefined, topicAliases: false };
  const { topicAlias, ...rest } = o.properties.publish;
  let any = false;
  for (const _ in rest) any = true;
  return { properties: any ? rest : undefined, topicAliases: topicAlias !== undefined };
}

/** The `-l` progress text: `1 message published`, `2 messages published`. */
function published(count: number): string {
  return `${count} message${count === 1 ? "" : "s"} published`;
}

/**
 * Run `mq pub` with parsed options: connect, publish (`--repeat` times, or once per line
 * with `-l`, at most `-M` QoS 1/2 messages in flight), disconnect.
 *
 * @example Publish to an in-process broker
 * ```ts ignore
 * const code = await runPub(options, host);
 * ```
 *
 * @param o The parsed options.
 * @param host The runtime.
 * @returns The exit code: 0, 1 for errors, the CONNACK code for a refusal.
 */
export async function runPub(o: PubOptions, host: CliHost): Promise<number> {
  const payload = await readPayload(o, host);
  if (payload === undefined) return 1;
  const { properties, topicAliases } = publishProperties(o);
  const opened = await openClient("pub", o, host, { reconnect: false, topicAliases });
  if (typeof opened === "number") return opened;
  const { client } = opened;
  let stopped: number | undefined;
  const unlisten = STOP_SIGNALS.map(([signal, code]) =>
    host.onSignal(signal, () => {
      // As a killed mosquitto_pub: no DISCONNECT, so a will is published.
      stopped = code;
      client.destroy();
    })
  );
  const publishOptions: PublishOptions = { qos: o.qos, retain: o.retain };
  if (properties !== undefined) publishOptions.properties = properties;
  let failure: number | undefined;
  // A `-l` progress line is on the terminal without its newline: end it before an error.
  let progressOpen = false;
  const report = (line: string): void => {
    if (progressOpen) {
      progressOpen = false;
      host.stderr.writeText("\n");
    }
    printError(o, host, line);
  };
  const pending = new Set<Promise<void>>();
  const send = (bytes: Uint8Array): Promise<void> => {
    const p = client.publish(o.topic, bytes, publishOptions).then(
      () => {},
      (error) => {
        if (error instanceof PublishRefusedError) {
          report(`Warning: Publish failed: ${reasonString(error.reasonCode)}.`);
        } else if (error instanceof ServerLimitError) {
          report(
            error.reasonCode === 0x9b
              ? "Error: Message QoS not supported on broker, try a lower QoS."
              : `Error: ${reasonString(error.reasonCode)}.`,
          );
          failure ??= 1;
        } else if (stopped === undefined) {
          report("Error: The connection was lost.");
          failure ??= EXIT_CONNECTION_LOST;
        }
      },
    ).finally(() => pending.delete(p));
    pending.add(p);
    return p;
  };
  const window = async (): Promise<void> => {
    if (o.qos > 0) { while (pending.size >= o.maxInflight) await Promise.race(pending); }
  };
  try {
    if (o.message.kind === "lines") {
      const progress = !o.quiet && host.stderr.isTTY;
      let count = 0;
      let shown = 0;
      for await (const line of host.stdin.lines()) {
        if (stopped !== undefined || failure !== undefined) break;
        await window();
        void send(line);
        count++;
        if (progress && host.now() - shown >= 200) {
          shown = host.now();
          host.stderr.writeText(`\r${published(count)}`);
          progressOpen = true;
        }
      }
      if (progress && count > 0) host.stderr.writeText(`\r${published(count)}\n`);
      progressOpen = false;
    } else {
      for (let i = 0; i < o.repeat; i++) {
        if (stopped !== undefined || failure !== undefined) break;
        if (i > 0 && o.repeatDelay > 0) {
          await new Promise((resolve) => setTimeout(resolve, o.repeatDelay));
        }
        await window();
        await send(payload);
      }
    }
    while (pending.size > 0) await Promise.race(pending);
  } finally {
    for (const off of unlisten) off();
  }
  if (stopped !== undefined) return stopped;
  await opened.end();
  return failure ?? 0;
}
