/**
 * `mq sub`: subscribe and print messages, as mosquitto_sub 2.0 does.
 *
 * @module
 */

import { SubscribeRefusedError } from "../client/errors.ts";
import type { SubscribeOptions } from "../client/options.ts";
import type { Message } from "../client/subscription.ts";
import type { MqttClient } from "../client/client.ts";
import { matchTopic } from "../protocol/topic.ts";
import type { OutputArgs, SubOptions } from "./_args.ts";
import {
  colorEnabled,
  EXIT_CONNECTION_LOST,
  openClient,
  printError,
  reasonString,
  STOP_SIGNALS,
} from "./_connection.ts";
import { type FormatMessage, formatMessage } from "./format.ts";
import type { CliHost } from "./host.ts";
import { ExitCode } from "./_args.ts";

/**
 * The message as the formatter needs it: with its packet id (`%m`) and its properties as
 * received (topic alias `%A` included, in wire order).
 *
 * @example Convert a message
 * ```ts
 * import assert from "node:assert/strict";
 * import { toFormatMessage } from "./sub.ts";
 * const m = toFormatMessage({ topic: "t", payload: new Uint8Array(), qos: 1, retain: false, packetId: 3 }, 0);
 * assert.equal(m.mid, 3);
 * ```
 *
 * @param message The delivered message.
 * @param time When it was received.
 * @returns The message for the formatter.
 */
export function toFormatMessage(message: Message, time: number): FormatMessage {
  return {
    topic: message.topic,
    payload: message.payload,
    qos: message.qos,
    retain: message.retain,
    mid: message.packetId ?? 0,
    properties: message.properties ?? {},
    time,
  };
}

/**
 * Print one message as `-v`, `-N`, `-F`, `--pretty` and `--json` say; the topic of `-v`
 * is coloured on a terminal.
 *
 * @param message The message.
 * @param o The output options.
 * @param host The runtime.
 */
export function printMessage(
  message: FormatMessage,
  o: OutputArgs & { quiet: boolean; noColor: boolean },
  host: CliHost,
): void {
  const result = formatMessage(message, {
    verbose: o.verbose,
    eol: o.eol,
    pretty: o.pretty,
    json: o.json,
    ...(o.format === undefined ? {} : { format: o.format }),
  });
  let bytes = result.stdout;
  if (
    o.verbose && o.format === undefined && !o.json && bytes.length > 0 &&
    colorEnabled(o as SubOptions, host, host.stdout)
  ) {
    const topic = new TextEncoder().encode(message.topic);
    const start = new TextEncoder().encode("\x1b[36m");
    const end = new TextEncoder().encode("\x1b[0m");
    const out = new Uint8Array(bytes.length + start.length + end.length);
    out.set(start, 0);
    out.set(topic, start.length);
    out.set(end, start.length + topic.length);
    out.set(bytes.subarray(topic.length), start.length + topic.length + end.length);
    bytes = out;
  }
  if (bytes.length > 0) host.stdout.write(bytes);
  for (const line of result.errors) printError(o as SubOptions, host, line);
}

/**
 * Run `mq sub` with parsed options: subscribe to every `-t` in one SUBSCRIBE, unsubscribe
 * from every `-U`, print messages until `-C`, `-E`, `--retained-only`, `-W` or a signal
 * ends it.
 *
 * @example Run it
 * ```ts ignore
 * const code = await runSub(options, host);
 * ```
 *
 * @param o The parsed options.
 * @param host The runtime.
 * @returns The exit code: 0, 27 when `-W` expired, the CONNACK code for a refusal, else 1.
 */
export async function runSub(o: SubOptions, host: CliHost): Promise<number> {
  let processing = true;
  let received = 0;
  let finish!: (code: number) => void;
  const done = new Promise<number>((resolve) => (finish = resolve));
  const removals = new Set<Promise<unknown>>();
  let publishRemoval: (topic: string) => void = () => {};

  const onMessage = (message: Message): void => {
    if (!processing) return;
    const m = toFormatMessage(message, host.now());
    if (o.retainedOnly && !m.retain) {
      processing = false;
      finish(0);
      return;
    }
    if (o.noRetained && m.retain) return;
    for (const filter of o.filterOut) if (matchTopic(filter, m.topic)) return;
    if (o.removeRetained && m.retain) publishRemoval(m.topic);
    // As in mosquitto_sub, --random-filter only skips the printing: -C still counts the message.
    if (o.randomFilter >= 100 || Math.random() * 100 < o.randomFilter) printMessage(m, o, host);
    if (o.count !== undefined && ++received >= o.count) {
      processing = false;
      finish(0);
    }
  };

  const opened = await openClient("sub", o, host, {
    reconnect: true,
    onMessage,
  });
  if (typeof opened === "number") return opened;
  const { client } = opened;
  publishRemoval = (topic) => {
    const p = client.publish(topic, new Uint8Array(0), { qos: 1, retain: true }).catch(() => {});
    removals.add(p);
    void p.finally(() => removals.delete(p));
  };
  let timedOut = false;
  let signalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (o.timeout !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      processing = false;
      finish(ExitCode.Timeout);
    }, o.timeout * 1000);
  }
  const unlisten = STOP_SIGNALS.map(([signal]) =>
    host.onSignal(signal, () => {
      signalled = true;
      processing = false;
      finish(0);
    })
  );
  void client.closed.then((error) => {
    if (error === undefined) return;
    processing = false;
    printError(o, host, `Error: ${error.message}`);
    finish(EXIT_CONNECTION_LOST);
  });

  if (o.topics.length > 0) {
    const options: SubscribeOptions = {
      qos: o.qos,
      onMessage,
      retainAsPublished: o.retainAsPublished,
    };
    if (o.retainHandling !== undefined) options.retainHandling = o.retainHandling;
    const props = o.properties.subscribe;
    if (o.protocolVersion === 5) {
      for (const _ in props) {
        options.properties = props;
        break;
      }
    }
    const subscribing = client.subscribe(o.topics, options);
    unsubscribeAll(o, client);
    subscribing.then(
      (subscription) => {
        if (o.debug && !o.quiet) {
          host.stderr.writeText(
            `Subscribed (mid: ${opened.lastSubscribeId}): ${subscription.reasonCodes.join(", ")}\n`,
          );
        }
        if (o.exitAfterSubscribe) finish(0);
      },
      (error) => {
        if (error instanceof SubscribeRefusedError) {
          if (o.debug && !o.quiet) {
            host.stderr.writeText(
              `Subscribed (mid: ${opened.lastSubscribeId}): ${error.reasonCodes.join(", ")}\n`,
            );
          }
          printError(o, host, `Error: ${reasonString(error.reasonCodes[0] ?? 0x80)}`);
          if (o.exitAfterSubscribe) finish(0);
          return;
        }
        processing = false;
        printError(o, host, `Error: ${(error as Error).message}`);
        finish(1);
      },
    );
  } else {
    unsubscribeAll(o, client);
  }

  const code = await done;
  if (timer !== undefined) clearTimeout(timer);
  while (removals.size > 0) await Promise.race(removals);
  if (timedOut) printError(o, host, "Timed out");
  if (client.state !== "closed") {
    // -W and signals disconnect "with will" (MQTT 5 reason 0x04), as mosquitto_sub does.
    const withWill = o.protocolVersion === 5 && (timedOut || signalled);
    await opened.end(withWill ? { reasonCode: 0x04 } : {});
  }
  // Kept until the connection is closed, so a second signal cannot kill it half-way.
  for (const off of unlisten) off();
  return code;
}

/** Send one UNSUBSCRIBE per `-U` filter, as mosquitto_sub does right after SUBSCRIBE. */
function unsubscribeAll(o: SubOptions, client: MqttClient): void {
  const properties = o.properties.unsubscribe;
  const options = o.protocolVersion === 5 && Object.keys(properties).length > 0
    ? { properties }
    : {};
  // Not waited for: the command may end before the UNSUBACK, as mosquitto_sub does.
  for (const filter of o.unsubscribe) client.unsubscribe(filter, options).catch(() => {});
}
