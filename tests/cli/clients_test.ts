/**
 * `mq pub`, `mq sub` and `mq rr` run in-process with the fake host against the in-process
 * broker on a loopback port.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { detectRuntime } from "../../socket/runtime.ts";
import { connect } from "../../client/connect.ts";
import { broker, mq, subscribed } from "./_in_process.ts";
import { live, runTool } from "./_mq.ts";

const T = { timeout: 20_000 };
const unixSkip = process.platform === "win32" ? "no unix sockets on Windows" : false;
describe("mq pub, sub and rr in-process", () => {
  test("runSub() prints what runPub() publishes, with -v and -C", T, async (t) => {
    const { b, port } = await broker(t);
    const ready = subscribed(b, "a/#");
    const sub = mq(["sub", "-p", port, "-t", "a/#", "-v", "-C", "2", "-q", "1"]);
    await ready;
    const p1 = mq(["pub", "-p", port, "-t", "a/b", "-m", "hello", "-q", "1"]);
    assert.equal(await p1.code, 0, p1.host.err.text);
    const p2 = mq(["pub", "-p", port, "-t", "a/c", "-n", "-q", "2", "-V", "5"]);
    assert.equal(await p2.code, 0, p2.host.err.text);
    assert.equal(await sub.code, 0, sub.host.err.text);
    assert.equal(sub.host.out.text, "a/b hello\na/c (null)\n");
    assert.equal(sub.host.err.text, "");
  });

  test("runSub() prints packet ids and properties in wire order with -F", T, async (t) => {
    const { b, port } = await broker(t);
    const ready = subscribed(b, "f/#");
    const sub = mq([
      "sub",
      "-p",
      port,
      "-V",
      "5",
      "-t",
      "f/#",
      "-q",
      "1",
      "-C",
      "1",
      "-F",
      "%t %q %m %C %P",
    ]);
    await ready;
    const pub = mq([
      "pub",
      "-p",
      port,
      "-t",
      "f/x",
      "-m",
      "m",
      "-q",
      "1",
      "-D",
      "publish",
      "user-property",
      "k",
      "v",
      "-D",
      "publish",
      "content-type",
      "text/x",
    ]);
    assert.equal(await pub.code, 0, pub.host.err.text);
    assert.equal(await sub.code, 0, sub.host.err.text);
    assert.match(sub.host.out.text, /^f\/x 1 [1-9]\d* text\/x k:v\n$/);
  });

  test("runPub() -l sends each line; -r with -n clears a retained message", T, async (t) => {
    const { b, port } = await broker(t);
    const ready = subscribed(b, "l/t");
    const sub = mq(["sub", "-p", port, "-t", "l/t", "-C", "4", "-q", "1"]);
    await ready;
    const pub = mq(["pub", "-p", port, "-t", "l/t", "-l", "-q", "1", "-M", "2"], {
      stdin: "one\ntwo\n\nfour",
    });
    assert.equal(await pub.code, 0, pub.host.err.text);
    assert.equal(await sub.code, 0);
    assert.equal(sub.host.out.text, "one\ntwo\nfour\n"); // the empty line prints nothing

    assert.equal(await mq(["pub", "-p", port, "-t", "r/t", "-m", "kept", "-r"]).code, 0);
    const before = mq(["sub", "-p", port, "-t", "r/t", "-C", "1"]);
    assert.equal(await before.code, 0);
    assert.equal(before.host.out.text, "kept\n");
    assert.equal(await mq(["pub", "-p", port, "-t", "r/t", "-n", "-r"]).code, 0);
    const after = mq(["sub", "-p", port, "-t", "r/t", "-W", "1"]);
    assert.equal(await after.code, 27);
    assert.equal(after.host.out.text, "");
    assert.equal(after.host.err.text, "Timed out\n");
  });

  test("runSub() honours -R, -T, --retained-only, -E and --json", T, async (t) => {
    const { b, port } = await broker(t);
    b.publish("s/a", "A", { retain: true });
    b.publish("s/b", "B", { retain: true });
    const noRetained = mq(["sub", "-p", port, "-t", "s/#", "-R", "-W", "1"]);
    assert.equal(await noRetained.code, 27);
    assert.equal(noRetained.host.out.text, "");
    const filtered = mq(["sub", "-p", port, "-t", "s/#", "-T", "s/a", "-C", "1", "-v"]);
    assert.equal(await filtered.code, 0);
    assert.equal(filtered.host.out.text, "s/b B\n");
    const ready = subscribed(b, "s/#");
    const only = mq(["sub", "-p", port, "-t", "s/#", "--retained-only", "-v"]);
    await ready;
    b.publish("s/c", "live");
    assert.equal(await only.code, 0);
    assert.deepEqual(only.host.out.text.split("\n").sort(), ["", "s/a A", "s/b B"]);
    const exit = mq(["sub", "-p", port, "-t", "nothing", "-E"]);
    assert.equal(await exit.code, 0);
    const json = mq(["sub", "-p", port, "-t", "s/a", "-C", "1", "--json"]);
    assert.equal(await json.code, 0);
    assert.deepEqual(JSON.parse(json.host.out.text), {
      topic: "s/a",
      qos: 0,
      retain: true,
      payload: "A",
      encoding: "utf8",
    });
  });

  test("runSub() --remove-retained clears what it prints", T, async (t) => {
    const { b, port } = await broker(t);
    b.publish("rm/a", "A", { retain: true });
    const sub = mq(["sub", "-p", port, "-t", "rm/#", "--remove-retained", "-C", "1"]);
    assert.equal(await sub.code, 0);
    assert.equal(sub.host.out.text, "A\n");
    const again = mq(["sub", "-p", port, "-t", "rm/#", "-W", "1"]);
    assert.equal(await again.code, 27);
    assert.equal(again.host.out.text, "");
  });

  test("runSub() -U removes a filter of a persistent session", T, async (t) => {
    const { b, port } = await broker(t);
    const first = mq(["sub", "-p", port, "-i", "keep", "-c", "-q", "1", "-t", "u/#", "-E"]);
    assert.equal(await first.code, 0);
    const unsubscribed = new Promise<void>((resolve) => {
      const off = b.on("unsubscribe", () => {
        off();
        resolve();
      });
    });
    const second = mq([
      "sub",
      "-p",
      port,
      "-i",
      "keep",
      "-c",
      "-q",
      "1",
      "-t",
      "x",
      "-U",
      "u/#",
      "-E",
    ]);
    await unsubscribed;
    assert.equal(await second.code, 0);
    b.publish("u/1", "lost", { qos: 1 });
    const third = mq(["sub", "-p", port, "-i", "keep", "-c", "-q", "1", "-t", "x", "-W", "1"]);
    assert.equal(await third.code, 27);
    assert.equal(third.host.out.text, "");
  });

  test("runSub() stops on SIGINT with exit 0 and publishes the will (MQTT 5)", T, async (t) => {
    const { b, port } = await broker(t);
    const wills: string[] = [];
    b.subscribe("will/#", (m) => void wills.push(new TextDecoder().decode(m.payload)));
    const ready = subscribed(b, "w");
    const sub = mq([
      "sub",
      "-p",
      port,
      "-V",
      "5",
      "-t",
      "w",
      "--will-topic",
      "will/x",
      "--will-payload",
      "bye",
    ]);
    await ready;
    const gone = new Promise<void>((resolve) => {
      const off = b.on("disconnect", () => {
        off();
        resolve();
      });
    });
    sub.host.signal("SIGINT");
    assert.equal(await sub.code, 0);
    await gone;
    assert.deepEqual(wills, ["bye"]);
  });

  test("runRr() prints the response and times out with 27", T, async (t) => {
    const { port } = await broker(t);
    const responder = await connect(`mqtt://127.0.0.1:${port}`);
    t.after(() => responder.end());
    await responder.respond(
      "rr/req",
      (request) => `re:${new TextDecoder().decode(request.payload)}`,
    );
    const rr = mq([
      "rr",
      "-p",
      port,
      "-t",
      "rr/req",
      "-e",
      "rr/resp",
      "-m",
      "ping",
      "-v",
      "--latency",
    ]);
    assert.equal(await rr.code, 0, rr.host.err.text);
    assert.equal(rr.host.out.text, "rr/resp re:ping\n");
    assert.match(rr.host.err.text, /^Latency: \d+ ms\n$/);
    const silent = mq(["rr", "-p", port, "-t", "rr/none", "-e", "rr/r2", "-m", "x", "-W", "1"]);
    assert.equal(await silent.code, 27);
    assert.equal(silent.host.err.text, "Timed out\n");
  });

  test("runPub() exits with the CONNACK code when refused", T, async (t) => {
    const { port } = await broker(t, { authenticate: (c) => c.username === "ok" });
    const v3 = mq(["pub", "-p", port, "-t", "a", "-m", "x"]);
    assert.equal(await v3.code, 5);
    assert.match(v3.host.err.text, /^Connection error: Connection Refused: not authorised\.\n$/);
    const v5 = mq(["sub", "-p", port, "-t", "a", "-V", "5"]);
    assert.ok([0x86, 0x87].includes(await v5.code));
    const quiet = mq(["rr", "-p", port, "-t", "a", "-e", "b", "-m", "x", "--quiet"]);
    assert.ok([0x86, 0x87].includes(await quiet.code));
    assert.equal(quiet.host.err.text, "");
    assert.equal(await mq(["pub", "-p", port, "-t", "a", "-m", "x", "-u", "ok"]).code, 0);
  });

  test("runPub() refuses what mq cannot do and a connection that fails", T, async () => {
    for (
      const extra of [
        ["--psk", "abcd", "--psk-identity", "me"],
        ["--proxy", "socks5h://localhost"],
      ]
    ) {
      const run = mq(["pub", "-t", "a", "-m", "x", ...extra]);
      assert.equal(await run.code, 1, extra.join(" "));
      assert.match(run.host.err.text, /^Error: .* is not supported by mq\n$/);
    }
    const refused = mq(["pub", "-p", "1", "-t", "a", "-m", "x"]);
    assert.equal(await refused.code, 1);
    assert.match(refused.host.err.text, /^Error: /);
    const missing = mq(["pub", "-t", "a", "-f", "/no/such/file"]);
    assert.equal(await missing.code, 1);
  });

  test("runPub() --unix connects through a unix socket", { ...T, skip: unixSkip }, async (t) => {
    const { b, port } = await broker(t);
    const dir = await mkdtemp(join(tmpdir(), "mq-cli-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "mqtt.sock");
    // A unix socket forwarding to the broker's TCP port.
    const server = net.createServer((raw) => {
      const upstream = net.connect({ host: "127.0.0.1", port: Number(port) });
      raw.pipe(upstream).pipe(raw);
      raw.on("error", () => upstream.destroy());
      upstream.on("error", () => raw.destroy());
    });
    await new Promise<void>((resolve) => server.listen(path, () => resolve()));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const got = new Promise<string>((resolve) => {
      const off = b.on("publish", (event) => {
        off();
        resolve(event.packet.topic);
      });
    });
    const pub = mq(["pub", "--unix", path, "-t", "via/unix", "-m", "x", "-q", "1"]);
    assert.equal(await pub.code, 0, pub.host.err.text);
    assert.equal(await got, "via/unix");
  });

  test("runPub() -A binds the local address where the runtime can", T, async (t) => {
    const { port } = await broker(t);
    const pub = mq(["pub", "-p", port, "-A", "127.0.0.1", "-t", "a", "-m", "x"]);
    if (detectRuntime() === "deno") {
      assert.equal(await pub.code, 1);
      assert.match(pub.host.err.text, /^Error: /);
      return;
    }
    assert.equal(await pub.code, 0, pub.host.err.text);
  });

  test("runPub() -d prints mosquitto's debug lines on standard error", T, async (t) => {
    const { port } = await broker(t);
    const pub = mq(["pub", "-p", port, "-t", "d/t", "-m", "hey", "-q", "1", "-d", "-i", "dbg"]);
    assert.equal(await pub.code, 0);
    assert.equal(
      pub.host.err.text,
      [
        "Client dbg sending CONNECT",
        "Client dbg received CONNACK (0)",
        "Client dbg sending PUBLISH (d0, q1, r0, m1, 'd/t', ... (3 bytes))",
        "Client dbg received PUBACK (Mid: 1, RC:0)",
        "Client dbg sending DISCONNECT",
        "",
      ].join("\n"),
    );
    assert.equal(pub.host.out.text, "");
  });
});

describe("mq pub, sub and rr as subprocesses", () => {
  const S = { timeout: 60_000 };

  test("mq sub prints what mq pub sends and stops on SIGINT with a DISCONNECT", S, async (t) => {
    const { b, port } = await broker(t);
    const ready = subscribed(b, "p/#");
    const sub = live(t, "mq", "sub", ["-p", port, "-t", "p/#", "-v", "-q", "1", "-i", "sig"]);
    await ready;
    const pub = await runTool("mq", "pub", [
      "-p",
      port,
      "-t",
      "p/1",
      "-m",
      "over the wire",
      "-q",
      "1",
    ]);
    assert.equal(pub.code, 0, pub.stderr);
    await sub.waitFor("p/1 over the wire\n");
    const disconnected = new Promise<number | undefined>((resolve) => {
      const off = b.on("disconnect", (event) => {
        if (event.clientId !== "sig") return;
        off();
        resolve(event.reasonCode);
      });
    });
    sub.kill("SIGINT");
    const result = await sub.done;
    // A clean DISCONNECT (not a lost connection) shows the handler ran.
    assert.notEqual(await disconnected, undefined);
    // Deno's child_process reports the signal it sent rather than the child's exit code.
    const isDeno = (globalThis as { Deno?: unknown }).Deno !== undefined;
    assert.equal(result.code, isDeno ? null : 0, result.stderr);
    assert.equal(new TextDecoder().decode(result.stdout), "p/1 over the wire\n");
  });

  test("mq pub -l reads standard input; mq rr -W exits 27", S, async (t) => {
    const { b, port } = await broker(t);
    const ready = subscribed(b, "in");
    const sub = live(t, "mq", "sub", ["-p", port, "-t", "in", "-C", "3"]);
    await ready;
    const pub = await runTool("mq", "pub", ["-p", port, "-t", "in", "-l"], { stdin: "a\nb\nc\n" });
    assert.equal(pub.code, 0, pub.stderr);
    const result = await sub.done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(new TextDecoder().decode(result.stdout), "a\nb\nc\n");
    const rr = await runTool("mq", "rr", ["-p", port, "-t", "q", "-e", "r", "-m", "x", "-W", "1"]);
    assert.equal(rr.code, 27);
    assert.equal(rr.stderr, "Timed out\n");
  });
});
