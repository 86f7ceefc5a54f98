/**
 * `mq rr`: publish a request with a response topic and print the first response, as
 * mosquitto_rr 2.0 does.
 *
 * @module
 */

import { SubscribeRefusedError } from "../client/errors.ts";
import type { PublishOptions, SubscribeOptions } from "../client/options.ts";
import type { Message } from "../client/subscription.ts";
import { ExitCode, type RrOptions } from "./_args.ts";
import { openClient, printError, reasonString, STOP_SIGNALS } from "./_connection.ts";
import type { CliHost } from "./host.ts";
import { publishProperties, readPayload } from "./pub.ts";
import { printMessage, toFormatMessage } from "./sub.ts";

/**
 * Run `mq rr` with parsed options: subscribe to the response topic (`-e`), publish the
 * request with that response topic (MQTT 5), print the first message that arrives.
 *
 * @example Run it
 * ```ts ignore
 * const code = await runRr(options, host);
 * ```
 *
 * @param o The parsed options.
 * @param host The runtime.
 * @returns The exit code: 0, 27 when `-W` expired, the CONNACK code for a refusal, else 1.
 */
export async function runRr(o: RrOptions, host: CliHost): Promise<number> {
  const payload = await readPayload(o, host);
  if (payload === undefined) return 1;
  let finish!: (code: number) => void;
  const done = new Promise<number>((resolve) => (finish = resolve));
  let answered = false;
  let sentAt = 0;
  const onMessage = (message: Message): void => {
    if (answered) return;
    answered = true;
    printMessage(toFormatMessage(message, host.now()), o, host);
    if (o.latency && !o.quiet) {
      host.stderr.writeText(`Latency: ${(host.now() - sentAt).toFixed(0)} ms\n`);
    }
    finish(0);
  };
  const { properties, topicAliases } = publishProperties(o);
  const opened = await openClient("rr", o, host, {
    reconnect: false,
    onMessage,
    topicAliases,
  });
  if (typeof opened === "number") return opened;
  const { client } = opened;
  let timedOut = false;
  let stopped: number | undefined;
  const timer = o.timeout === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    finish(ExitCode.Timeout);
  }, o.timeout * 1000);
  const unlisten = STOP_SIGNALS.map(([signal, code]) =>
    host.onSignal(signal, () => {
      stopped = code;
      // As a killed mosquitto_rr: no DISCONNECT, so a will is published.
      client.destroy();
      finish(code);
    })
  );
  void client.closed.then((error) => {
    if (error === undefined || stopped !== undefined) return;
    printError(o, host, "Error: The connection was lost.");
    finish(1);
  });

  const subscribeOptions: SubscribeOptions = { qos: o.qos, onMessage };
  if (o.protocolVersion === 5 && Object.keys(o.properties.subscribe).length > 0) {
    subscribeOptions.properties = o.properties.subscribe;
  }
  client.subscribe(o.responseTopic, subscribeOptions).then(
    () => {
      const publishOptions: PublishOptions = { qos: o.qos };
      if (o.protocolVersion === 5) {
        publishOptions.properties = { ...properties, responseTopic: o.responseTopic };
      }
      sentAt = host.now();
      return client.publish(o.topic, payload, publishOptions);
    },
    (error) => {
      if (error instanceof SubscribeRefusedError) {
        // As mosquitto_rr: the refusal is printed and the command ends with 0.
        printError(o, host, reasonString(error.reasonCodes[0] ?? 0x80));
        finish(0);
        return;
      }
      printError(o, host, `Error: ${(error as Error).message}`);
      finish(1);
    },
  ).catch((error) => {
    printError(o, host, `Error: ${(error as Error).message}`);
    finish(1);
  });

  const code = await done;
  if (timer !== undefined) clearTimeout(timer);
  for (const off of unlisten) off();
  if (timedOut) printError(o, host, "Timed out");
  if (stopped === undefined && client.state !== "closed") {
    await opened.end(timedOut && o.protocolVersion === 5 ? { reasonCode: 0x04 } : {});
  }
  return code;
}
