/**
 * Colour in `mq sub`/`mq pub` output (docs/cli.md, "Colour"): the topic of `-v` is cyan on
 * standard output and error lines are red on standard error, each only when that stream is
 * a terminal, never with `--no-color` or a non-empty `NO_COLOR` (no-color.org), and never
 * in `-F` or `--json` output. Exact bytes throughout.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import { broker, subscribed } from "./_in_process.ts";
import { ttyMq, type TtyOptions } from "./_tty_host.ts";

const T = { timeout: 30_000 };
const CYAN = "\x1b[36m";
const RED = "\x1b[31m";
const RESET = "\x1b[0m";
const REFUSED = "Connection error: Connection Refused: not authorised.";

/** A broker holding the retained message `hello` on `c/t`, and its port. */
async function retained(t: TestContext, payload = "hello"): Promise<string> {
  const { port } = await broker(t);
  const pub = ttyMq(["pub", "-p", port, "-t", "c/t", "-m", payload, "-r"]);
  assert.equal(await pub.code, 0, pub.host.err.text);
  return port;
}

/** Run `mq sub -C 1` with extra arguments against `port`; return standard output. */
async function subOutput(port: string, args: string[], options: TtyOptions): Promise<string> {
  const sub = ttyMq(["sub", "-p", port, "-t", "c/t", "-C", "1", ...args], options);
  assert.equal(await sub.code, 0, sub.host.err.text);
  return sub.host.out.text;
}

/** Run `mq pub` against a broker that refuses every client; return the exit code and stderr. */
async function refusedPub(
  t: TestContext,
  args: string[],
  options: TtyOptions,
): Promise<{ code: number; stderr: string }> {
  const { port } = await broker(t, { authenticate: () => false });
  const pub = ttyMq(["pub", "-p", port, "-t", "c/t", "-m", "x", ...args], options);
  return { code: await pub.code, stderr: pub.host.err.text };
}

describe("mq colour", () => {
  test("runSub() -v colours the topic cyan when standard output is a terminal", T, async (t) => {
    const port = await retained(t);
    assert.equal(
      await subOutput(port, ["-v"], { stdoutTTY: true }),
      `${CYAN}c/t${RESET} hello\n`,
    );
  });

  test("runSub() -v writes plain bytes when standard output is not a terminal", T, async (t) => {
    const port = await retained(t);
    // Standard error being a terminal does not matter: colour is decided per stream.
    assert.equal(await subOutput(port, ["-v"], { stderrTTY: true }), "c/t hello\n");
  });

  test("runSub() -v --no-color writes plain bytes on a terminal", T, async (t) => {
    const port = await retained(t);
    assert.equal(
      await subOutput(port, ["-v", "--no-color"], { stdoutTTY: true }),
      "c/t hello\n",
    );
  });

  test("runSub() -v writes plain bytes when NO_COLOR has any non-empty value", T, async (t) => {
    const port = await retained(t);
    for (const value of ["1", "0", "false", " ", "no"]) {
      assert.equal(
        await subOutput(port, ["-v"], { stdoutTTY: true, env: { NO_COLOR: value } }),
        "c/t hello\n",
        `NO_COLOR=${JSON.stringify(value)}`,
      );
    }
  });

  test("runSub() -v still colours when NO_COLOR is empty", T, async (t) => {
    const port = await retained(t);
    assert.equal(
      await subOutput(port, ["-v"], { stdoutTTY: true, env: { NO_COLOR: "" } }),
      `${CYAN}c/t${RESET} hello\n`,
    );
  });

  test("runSub() -v -N colours the topic and adds no newline", T, async (t) => {
    const port = await retained(t);
    assert.equal(
      await subOutput(port, ["-v", "-N"], { stdoutTTY: true }),
      `${CYAN}c/t${RESET} hello`,
    );
  });

  test("runSub() -v colours the topic of an empty message", T, async (t) => {
    const { b, port } = await broker(t);
    const ready = subscribed(b, "c/t");
    const sub = ttyMq(["sub", "-p", port, "-t", "c/t", "-C", "1", "-v"], { stdoutTTY: true });
    await ready;
    const pub = ttyMq(["pub", "-p", port, "-t", "c/t", "-n"]);
    assert.equal(await pub.code, 0, pub.host.err.text);
    assert.equal(await sub.code, 0, sub.host.err.text);
    assert.equal(sub.host.out.text, `${CYAN}c/t${RESET} (null)\n`);
  });

  test("runSub() without -v prints the payload uncoloured on a terminal", T, async (t) => {
    const port = await retained(t);
    assert.equal(await subOutput(port, [], { stdoutTTY: true }), "hello\n");
  });

  test("runSub() -F output is never coloured, with or without -v", T, async (t) => {
    const port = await retained(t);
    for (const extra of [[], ["-v"]]) {
      assert.equal(
        await subOutput(port, [...extra, "-F", "%t %p"], { stdoutTTY: true }),
        "c/t hello\n",
      );
    }
  });

  test("runSub() --json output is never coloured, with or without -v", T, async (t) => {
    const port = await retained(t);
    for (const extra of [[], ["-v"], ["--pretty"]]) {
      const text = await subOutput(port, [...extra, "--json"], { stdoutTTY: true });
      assert.ok(!text.includes("\x1b"), JSON.stringify(text));
      const parsed = JSON.parse(text) as { topic: unknown };
      assert.equal(parsed.topic, "c/t");
    }
  });

  test("runSub() -F %J prints its error line red only on a terminal", T, async (t) => {
    const port = await retained(t, "not json");
    const line = "Error: Message payload is not valid JSON on topic c/t.";
    for (
      const [options, expected] of [
        [{ stderrTTY: true }, `${RED}${line}${RESET}\n`],
        [{ stderrTTY: false }, `${line}\n`],
        [{ stderrTTY: true, env: { NO_COLOR: "1" } }, `${line}\n`],
      ] as [TtyOptions, string][]
    ) {
      const sub = ttyMq(["sub", "-p", port, "-t", "c/t", "-C", "1", "-F", "%J"], options);
      assert.equal(await sub.code, 0, sub.host.err.text);
      assert.equal(sub.host.err.text, expected);
    }
  });

  test("runPub() prints a refusal red when standard error is a terminal", T, async (t) => {
    const { code, stderr } = await refusedPub(t, [], { stderrTTY: true });
    assert.equal(code, 5);
    assert.equal(stderr, `${RED}${REFUSED}${RESET}\n`);
  });

  test("runPub() prints a refusal plain when standard error is not a terminal", T, async (t) => {
    // Standard output being a terminal does not matter: colour is decided per stream.
    const { code, stderr } = await refusedPub(t, [], { stdoutTTY: true });
    assert.equal(code, 5);
    assert.equal(stderr, `${REFUSED}\n`);
  });

  test("runPub() --no-color prints a refusal plain on a terminal", T, async (t) => {
    const { code, stderr } = await refusedPub(t, ["--no-color"], { stderrTTY: true });
    assert.equal(code, 5);
    assert.equal(stderr, `${REFUSED}\n`);
  });

  test("runPub() prints a refusal plain when NO_COLOR is set", T, async (t) => {
    const env = { NO_COLOR: "true" };
    const { code, stderr } = await refusedPub(t, [], { stderrTTY: true, env });
    assert.equal(code, 5);
    assert.equal(stderr, `${REFUSED}\n`);
  });

  test("runPub() --quiet prints nothing, coloured or not", T, async (t) => {
    const { code, stderr } = await refusedPub(t, ["--quiet"], { stderrTTY: true });
    assert.equal(code, 5);
    assert.equal(stderr, "");
  });
});
