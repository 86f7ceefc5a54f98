/**
 * `mq sub --retain-handling` and `--random-filter` in-process against our broker.
 */
import { describe, test, type TestContext } from "../_testing.ts";
import assert from "node:assert/strict";
import { opensslSkip } from "../conformance/_tls.ts";
import { makePki } from "../_pki.ts";
import { freePort, mosquittoMissing, startMosquitto } from "./_mosquitto.ts";
import { runTool, type Tool } from "./_mq.ts";
import { broker, mq, subscribed } from "./_in_process.ts";

const T = { timeout: 30_000 };
describe("mq sub options in-process", () => {
  test("runSub() --retain-handling 2 skips the retained message, 0 delivers it", T, async (t) => {
    const { b, port } = await broker(t);
    const kept = mq(["pub", "-p", port, "-t", "r/t", "-m", "kept", "-r", "-q", "1"]);
    assert.equal(await kept.code, 0, kept.host.err.text);

    const ready = subscribed(b, "r/t");
    const never = mq([
      "sub",
      "-p",
      port,
      "-V",
      "5",
      "-t",
      "r/t",
      "--retain-handling",
      "2",
      "-C",
      "1",
    ]);
    await ready;
    const fresh = mq(["pub", "-p", port, "-t", "r/t", "-m", "live"]);
    assert.equal(await fresh.code, 0, fresh.host.err.text);
    assert.equal(await never.code, 0, never.host.err.text);
    assert.equal(never.host.out.text, "live\n");

    const always = mq([
      "sub",
      "-p",
      port,
      "-V",
      "5",
      "-t",
      "r/t",
      "--retain-handling",
      "0",
      "-C",
      "1",
    ]);
    assert.equal(await always.code, 0, always.host.err.text);
    assert.equal(always.host.out.text, "kept\n");
  });

  test("runSub() --random-filter 100 prints every message", T, async (t) => {
    const { b, port } = await broker(t);
    const ready = subscribed(b, "f/t");
    const sub = mq([
      "sub",
      "-p",
      port,
      "-t",
      "f/t",
      "-q",
      "1",
      "-C",
      "5",
      "--random-filter",
      "100",
    ]);
    await ready;
    const pub = mq(["pub", "-p", port, "-t", "f/t", "-q", "1", "-l"], { stdin: "1\n2\n3\n4\n5\n" });
    assert.equal(await pub.code, 0, pub.host.err.text);
    assert.equal(await sub.code, 0, sub.host.err.text);
    assert.equal(sub.host.out.text, "1\n2\n3\n4\n5\n");
  });

  test("runSub() --random-filter 50 prints about half, and -C counts the skipped", T, async (t) => {
    const { b, port } = await broker(t);
    const ready = subscribed(b, "h/t");
    const sub = mq([
      "sub",
      "-p",
      port,
      "-t",
      "h/t",
      "-q",
      "1",
      "-C",
      "400",
      "--random-filter",
      "50",
    ]);
    await ready;
    const lines = Array.from({ length: 400 }, (_, i) => String(i));
    const pub = mq(["pub", "-p", port, "-t", "h/t", "-q", "1", "-l"], { stdin: lines.join("\n") });
    assert.equal(await pub.code, 0, pub.host.err.text);
    assert.equal(await sub.code, 0, sub.host.err.text); // ends after 400 received, not printed
    const printed = sub.host.out.text.split("\n").slice(0, -1).map(Number);
    // Binomial(400, 0.5): 100..300 is ten standard deviations either side.
    assert.ok(printed.length >= 100 && printed.length <= 300, `printed ${printed.length}`);
    for (let i = 1; i < printed.length; i++) assert.ok(printed[i]! > printed[i - 1]!);
  });
});

/** A CA with a server certificate for 127.0.0.1/localhost and one for another name. */
function makeCa(t: TestContext) {
  const pki = makePki(t);
  return { ca: pki.caFile, good: pki.server, bad: pki.serverFor("bad", "DNS:wrong.example") };
}

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const tlsSkip = opensslSkip ||
  mosquittoMissing("/usr/bin/mosquitto_sub", "/usr/bin/mosquitto_pub") ||
  false;

describe("mq pub and sub over TLS against mosquitto", { skip: tlsSkip }, () => {
  for (const tool of ["mq", "mosquitto"] as Tool[]) {
    test(`${tool} pub and sub --cafile round trip, and verification failures`, T, async (t) => {
      const pki = makeCa(t);
      const bad = await freePort();
      const port = String(
        await startMosquitto(
          t,
          `cafile ${pki.ca}\ncertfile ${pki.good.certFile}\n` +
            `keyfile ${pki.good.keyFile}\nallow_anonymous true\nlistener ${bad} 127.0.0.1\n` +
            `cafile ${pki.ca}\ncertfile ${pki.bad.certFile}\nkeyfile ${pki.bad.keyFile}\n`,
        ),
      );
      const ca = ["--cafile", pki.ca, "-h", "127.0.0.1"];
      const sub = runTool(tool, "sub", [...ca, "-p", port, "-t", "t", "-C", "1", "-W", "10"]);
      // Retained, so the subscriber gets it whenever it subscribes: no race.
      const pub = await runTool(tool, "pub", [...ca, "-p", port, "-t", "t", "-m", "hello", "-r"]);
      assert.equal(pub.code, 0, pub.stderr);
      const got = await sub;
      assert.equal(got.code, 0, got.stderr);
      assert.equal(new TextDecoder().decode(got.stdout), "hello\n");

      if (tool === "mosquitto") return;
      for (
        const args of [[...ca, "-p", String(bad)], [
          "-h",
          "127.0.0.1",
          "--tls-use-os-certs",
          "-p",
          port,
        ]]
      ) {
        const failed = await runTool(tool, "pub", [...args, "-t", "t", "-m", "x"]);
        assert.equal(failed.code, 1, failed.stderr);
        assert.equal(failed.stderr.trimEnd().split("\n").length, 1, failed.stderr);
      }
    });

    test(`${tool} sub --insecure accepts a certificate for another name`, T, async (t) => {
      const pki = makeCa(t);
      const bad = await startMosquitto(
        t,
        `cafile ${pki.ca}\ncertfile ${pki.bad.certFile}\n` +
          `keyfile ${pki.bad.keyFile}\nallow_anonymous true\n`,
      );
      const ca = ["--cafile", pki.ca, "-h", "127.0.0.1"];
      const pub = await runTool(tool, "pub", [
        ...ca,
        "--insecure",
        "-p",
        String(bad),
        "-t",
        "t",
        "-m",
        "hello",
        "-r",
      ]);
      if (!(tool === "mq" && isDeno)) assert.equal(pub.code, 0, pub.stderr);
      const insecure = await runTool(tool, "sub", [
        ...ca,
        "--insecure",
        "-p",
        String(bad),
        "-t",
        "t",
        "-C",
        "1",
      ]);
      if (tool === "mq" && isDeno) {
        // Deno.connectTls has no switch to skip verification: one error line, exit 1.
        assert.equal(insecure.code, 1, insecure.stderr);
        assert.equal(insecure.stderr.trimEnd().split("\n").length, 1, insecure.stderr);
      } else {
        assert.equal(insecure.code, 0, insecure.stderr);
        assert.equal(new TextDecoder().decode(insecure.stdout), "hello\n");
      }
    });
  }
});
