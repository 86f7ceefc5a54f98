/**
 * Run `mq` in-process with the fake host, choosing which of standard output and standard
 * error are terminals, the environment, the clock and a scripted standard input: what the
 * colour and `pub -l` progress tests need on top of `_in_process.ts`.
 *
 * @module
 */
import { ChunkInput } from "../../cli/_input.ts";
import { main } from "../../cli/mq.ts";
import { runPub } from "../../cli/pub.ts";
import { runRr } from "../../cli/rr.ts";
import { runSub } from "../../cli/sub.ts";
import { CapturedOutput, type FakeHost, fakeHost } from "./_fake_host.ts";

const clients = { pub: runPub, sub: runSub, rr: runRr };

/** Options for {@linkcode ttyMq}. */
export interface TtyOptions {
  /** Whether standard output is a terminal. Default `false`. */
  stdoutTTY?: boolean;
  /** Whether standard error is a terminal. Default `false`. */
  stderrTTY?: boolean;
  /** Environment variables besides `XDG_CONFIG_HOME=/none`. */
  env?: Record<string, string | undefined>;
  /** Standard input: text, or chunks produced on demand. Default: empty. */
  stdin?: string | (() => AsyncIterable<Uint8Array>);
  /** The host's clock. Default: always 0. */
  now?: () => number;
}

/**
 * Run `mq` with the fake host and the real client runners.
 *
 * @param args The arguments after `mq`.
 * @param options Terminals, environment, standard input and clock.
 * @returns The host (captured output in `out` and `err`) and the exit code.
 */
export function ttyMq(
  args: string[],
  options: TtyOptions = {},
): { host: FakeHost; code: Promise<number> } {
  const base = fakeHost({ env: { XDG_CONFIG_HOME: "/none", ...options.env }, args });
  const out = new CapturedOutput(options.stdoutTTY === true);
  const err = new CapturedOutput(options.stderrTTY === true);
  const stdin = options.stdin;
  const encoded = typeof stdin === "string" ? new TextEncoder().encode(stdin) : undefined;
  const host: FakeHost = {
    ...base,
    stdout: out,
    stderr: err,
    out,
    err,
    stdin: new ChunkInput(
      typeof stdin === "function" ? stdin : () => (encoded === undefined ? [] : [encoded]),
      false,
    ),
    now: options.now ?? (() => 0),
  };
  return { host, code: main(args, host, { clients }) };
}
