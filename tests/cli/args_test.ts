import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import {
  CLIENT_OPTIONS,
  defaultOptionsFile,
  ExitCode,
  parseClientArgs,
  parseClientArgsSync,
  splitOptionsFile,
} from "../../cli/_args.ts";
import type { ClientCommand, PubOptions, RrOptions, SubOptions } from "../../cli/_args.ts";
import { fakeHost } from "./_fake_host.ts";

function ok<C extends ClientCommand>(command: C, args: string[]) {
  const result = parseClientArgsSync(command, args);
  if (result.kind !== "options") {
    assert.fail(`expected options for ${args.join(" ")}: ${JSON.stringify(result)}`);
  }
  return result.options;
}

function fails(command: ClientCommand, args: string[]): string {
  const result = parseClientArgsSync(command, args);
  assert.equal(result.kind, "error", `expected an error for ${command} ${args.join(" ")}`);
  if (result.kind !== "error") return "";
  assert.equal(result.exitCode, ExitCode.Error);
  return result.message;
}

describe("CLIENT_OPTIONS", () => {
  test("CLIENT_OPTIONS has no duplicate names and covers every mosquitto 2.0 option", () => {
    const names = CLIENT_OPTIONS.flatMap((o) => o.names);
    assert.equal(new Set(names).size, names.length);
    // From mosquitto_pub/sub/rr 2.0.11 --help and client_shared.c.
    for (
      const name of [
        "-A",
        "-c",
        "-C",
        "-d",
        "-D",
        "-e",
        "-E",
        "-f",
        "-F",
        "-h",
        "-i",
        "-I",
        "-k",
        "-L",
        "-l",
        "-m",
        "-M",
        "-n",
        "-N",
        "-p",
        "-P",
        "-q",
        "-r",
        "-R",
        "-s",
        "-t",
        "-T",
        "-u",
        "-U",
        "-v",
        "-V",
        "-W",
        "-x",
        "--help",
        "--version",
        "--nodelay",
        "--pretty",
        "--quiet",
        "--random-filter",
        "--remove-retained",
        "--repeat",
        "--repeat-delay",
        "--retain-as-published",
        "--retained-only",
        "--unix",
        "--will-payload",
        "--will-qos",
        "--will-retain",
        "--will-topic",
        "--cafile",
        "--capath",
        "--cert",
        "--key",
        "--keyform",
        "--ciphers",
        "--tls-version",
        "--tls-alpn",
        "--tls-engine",
        "--tls-engine-kpass-sha1",
        "--tls-use-os-certs",
        "--insecure",
        "--psk",
        "--psk-identity",
        "--proxy",
        "--property",
        "--url",
        "--topic",
        "--message",
        "--file",
        "--stdin-line",
        "--stdin-file",
        "--null-message",
        "--retain",
        "--filter-out",
        "--unsubscribe",
        "--verbose",
        "--debug",
        "--disable-clean-session",
        "--id",
        "--id-prefix",
        "--keepalive",
        "--pw",
        "--username",
        "--qos",
        "--protocol-version",
        "--host",
        "--port",
      ]
    ) assert.ok(names.includes(name), name);
  });

  test("CLIENT_OPTIONS limits options to the commands mosquitto accepts them in", () => {
    // Measured with mosquitto 2.0.11: "Unknown option" for the others.
    const expect: Record<string, ClientCommand[]> = {
      "-l": ["pub"],
      "-r": ["pub"],
      "--repeat": ["pub"],
      "-m": ["pub", "rr"],
      "-n": ["pub", "rr"],
      "-s": ["pub", "rr"],
      "-f": ["pub", "rr"],
      "-C": ["sub"],
      "-E": ["sub"],
      "-T": ["sub"],
      "-U": ["sub"],
      "--retained-only": ["sub"],
      "--remove-retained": ["sub"],
      "--random-filter": ["sub"],
      "-e": ["rr"],
      "-W": ["sub", "rr"],
      "-F": ["sub", "rr"],
      "-v": ["sub", "rr"],
      "-N": ["sub", "rr"],
      "-R": ["sub", "rr"],
      "--retain-as-published": ["sub", "rr"],
      "-M": ["pub", "sub", "rr"],
    };
    for (const [name, commands] of Object.entries(expect)) {
      const spec = CLIENT_OPTIONS.find((o) => o.names.includes(name));
      assert.deepEqual([...spec!.commands].sort(), [...commands].sort(), name);
    }
  });
});

describe("parseClientArgsSync()", () => {
  test("parseClientArgsSync() gives mosquitto's defaults", () => {
    const pub = ok("pub", ["-t", "a", "-m", "x"]) as PubOptions;
    assert.equal(pub.host, "localhost");
    assert.equal(pub.port, undefined);
    assert.equal(pub.keepAlive, 60);
    assert.equal(pub.qos, 0);
    assert.equal(pub.protocolVersion, 4);
    assert.equal(pub.maxInflight, 20);
    assert.equal(pub.cleanSession, true);
    assert.equal(pub.repeat, 1);
    assert.equal(pub.retain, false);
    assert.deepEqual(pub.message, { kind: "message", payload: new TextEncoder().encode("x") });
    const rr = ok("rr", ["-t", "a", "-e", "b", "-m", "x"]) as RrOptions;
    assert.equal(rr.protocolVersion, 5);
    assert.equal(rr.responseTopic, "b");
    const sub = ok("sub", ["-t", "a/#", "-t", "b/+"]) as SubOptions;
    assert.deepEqual(sub.topics, ["a/#", "b/+"]);
    assert.equal(sub.eol, true);
    assert.equal(sub.randomFilter, 100);
  });

  test("parseClientArgsSync() reads every kind of value", () => {
    const sub = ok("sub", [
      "-h",
      "broker",
      "-p",
      "1884",
      "-k",
      "30",
      "-q",
      "2",
      "-i",
      "me",
      "-u",
      "user",
      "-P",
      "pw",
      "-V",
      "mqttv5",
      "-c",
      "-x",
      "600",
      "-C",
      "3",
      "-W",
      "9",
      "-F",
      "%t %p",
      "-N",
      "-v",
      "-R",
      "-T",
      "a/b",
      "-U",
      "old/#",
      "-E",
      "--pretty",
      "--random-filter",
      "50.5",
      "-D",
      "subscribe",
      "subscription-identifier",
      "7",
      "--will-topic",
      "w",
      "--will-payload",
      "bye",
      "--will-qos",
      "1",
      "--will-retain",
      "-A",
      "127.0.0.1",
      "-M",
      "5",
      "--nodelay",
      "--json",
      "--no-color",
      "--retain-handling",
      "2",
    ]) as SubOptions;
    assert.equal(sub.host, "broker");
    assert.equal(sub.port, 1884);
    assert.equal(sub.keepAlive, 30);
    assert.equal(sub.qos, 2);
    assert.equal(sub.protocolVersion, 5);
    assert.equal(sub.cleanSession, false);
    assert.equal(sub.sessionExpiryInterval, 600);
    assert.equal(sub.properties.connect.sessionExpiryInterval, 600);
    assert.equal(sub.count, 3);
    assert.equal(sub.timeout, 9);
    assert.equal(sub.format, "%t %p");
    assert.equal(sub.eol, false);
    assert.equal(sub.verbose, true);
    assert.equal(sub.noRetained, true);
    assert.deepEqual(sub.filterOut, ["a/b"]);
    assert.deepEqual(sub.unsubscribe, ["old/#"]);
    assert.equal(sub.exitAfterSubscribe, true);
    assert.equal(sub.randomFilter, 50.5);
    assert.equal(sub.properties.subscribe.subscriptionIdentifier, 7);
    assert.deepEqual(sub.will, {
      topic: "w",
      payload: new TextEncoder().encode("bye"),
      qos: 1,
      retain: true,
    });
    assert.equal(sub.bindAddress, "127.0.0.1");
    assert.equal(sub.maxInflight, 5);
    assert.equal(sub.json, true);
    assert.equal(sub.noColor, true);
    assert.equal(sub.retainHandling, 2);
  });

  test("parseClientArgsSync() takes values that start with '-' verbatim", () => {
    const pub = ok("pub", ["-t", "a", "-m", "-5"]) as PubOptions;
    assert.deepEqual(pub.message, { kind: "message", payload: new TextEncoder().encode("-5") });
  });

  test("parseClientArgsSync() rejects what mosquitto rejects", () => {
    fails("pub", ["-t", "a", "-m", "x", "-z"]);
    fails("pub", ["-t", "a", "-m", "x", "--", "-q", "1"]); // no positional arguments
    fails("pub", ["-t", "a", "-m", "x", "-rq", "1"]); // no combined flags
    fails("pub", ["-t", "a", "-m", "x", "--qos=1"]); // no --name=value
    fails("pub", ["-t", "a", "-m"]); // missing value
    fails("pub", ["-t", "a/#", "-m", "x"]); // wildcard in a publish topic
    fails("pub", ["-t", "a/+", "-m", "x"]);
    fails("pub", ["-t", "a"]); // no message
    fails("pub", ["-m", "x"]); // no topic
    fails("pub", ["-t", "a", "-m", "x", "-n"]); // two message modes
    fails("pub", ["-t", "a", "-l", "-s"]);
    fails("pub", ["-t", "a", "-m", "x", "-q", "3"]);
    fails("pub", ["-t", "a", "-m", "x", "-q", "one"]);
    fails("pub", ["-t", "a", "-m", "x", "-k", "4"]);
    fails("pub", ["-t", "a", "-m", "x", "-k", "65536"]);
    fails("pub", ["-t", "a", "-m", "x", "-p", "65536"]);
    fails("pub", ["-t", "a", "-m", "x", "-V", "4"]);
    fails("pub", ["-t", "a", "-m", "x", "-i", "a", "-I", "b"]);
    fails("pub", ["-t", "a", "-m", "x", "-c"]); // -c needs a client id
    fails("pub", ["-t", "a", "-m", "x", "-V", "5", "-x", "-1"]); // infinite expiry needs an id
    fails("pub", ["-t", "a", "-m", "x", "-x", "4294967296"]);
    fails("pub", ["-t", "a", "-m", "x", "--will-payload", "p"]);
    fails("pub", ["-t", "a", "-m", "x", "--will-retain"]);
    fails("pub", ["-t", "a", "-m", "x", "--will-topic", "w/#"]);
    fails("pub", ["-t", "a", "-m", "x", "--will-qos", "3", "--will-topic", "w"]);
    fails("pub", ["-t", "a", "-m", "x", "--cert", "c.pem"]);
    fails("pub", ["-t", "a", "-m", "x", "--psk", "00"]);
    fails("pub", ["-t", "a", "-m", "x", "--psk", "00", "--psk-identity", "i", "--cafile", "c"]);
    fails("pub", ["-t", "a", "-m", "x", "--tls-version", "tlsv1.0"]);
    fails("pub", ["-t", "a", "-m", "x", "--repeat", "0"]);
    fails("pub", ["-t", "a", "-m", "x", "--repeat-delay", "-1"]);
    fails("pub", ["-t", "a", "-m", "x", "-L", "http://h/t"]);
    fails("pub", ["-t", "a", "-m", "x", "-v"]); // sub/rr only
    fails("sub", []); // no topic
    fails("sub", ["-t", "a/#/b"]);
    fails("sub", ["-t", "a", "-m", "x"]);
    fails("sub", ["-t", "a", "-C", "0"]);
    fails("sub", ["-t", "a", "-W", "0"]);
    fails("sub", ["-t", "a", "-F", "%y"]);
    fails("sub", ["-t", "a", "-F", "%"]);
    fails("sub", ["-t", "a", "-F", "\\q"]);
    fails("sub", ["-t", "a", "-F", "@"]);
    fails("sub", ["-t", "a", "-R", "--retained-only"]);
    fails("sub", ["-t", "a", "--random-filter", "0"]);
    fails("sub", ["-t", "a", "-T", "a/#/b"]);
    fails("rr", ["-t", "a", "-m", "x"]); // no response topic
    fails("rr", ["-t", "a", "-m", "x", "-e", "b/#"]);
  });

  test("parseClientArgsSync() prefers --help and --version over other work", () => {
    assert.deepEqual(parseClientArgsSync("pub", ["--help"]), { kind: "help" });
    assert.deepEqual(parseClientArgsSync("sub", ["-t", "a", "--help", "-z"]), { kind: "help" });
    assert.deepEqual(parseClientArgsSync("rr", ["--version"]), { kind: "version" });
    assert.equal(parseClientArgsSync("pub", ["-z", "--help"]).kind, "error");
  });

  test("parseClientArgsSync() reads -L URLs", () => {
    const pub = ok("pub", ["-L", "mqtts://u:p@example.com:8884/a/b", "-m", "x"]) as PubOptions;
    assert.equal(pub.host, "example.com");
    assert.equal(pub.port, 8884);
    assert.equal(pub.username, "u");
    assert.equal(pub.password, "p");
    assert.equal(pub.topic, "a/b");
    assert.equal(pub.useTls, true);
    const sub = ok("sub", ["-L", "ws://h/x/#"]) as SubOptions;
    assert.equal(sub.transport, "websockets");
    assert.equal(sub.port, 1883);
    assert.deepEqual(sub.topics, ["x/#"]);
    fails("pub", ["-L", "mqtt://host", "-m", "x"]);
  });

  test("parseClientArgsSync() reads -x as mosquitto does", () => {
    const x = (value: string) =>
      (ok("pub", ["-t", "a", "-m", "x", "-V", "5", "-i", "id", "-x", value]) as PubOptions)
        .sessionExpiryInterval;
    assert.equal(x("0"), 0);
    assert.equal(x("-1"), 0xffff_ffff);
    assert.equal(x("∞"), 0xffff_ffff);
    assert.equal(x("0x10"), 16);
    fails("pub", ["-t", "a", "-m", "x", "-x", "soon"]);
    const c = ok("pub", ["-t", "a", "-m", "x", "-V", "5", "-c", "-i", "id"]) as PubOptions;
    assert.equal(c.sessionExpiryInterval, 0xffff_ffff);
  });

  test("parseClientArgsSync() validates -D properties per packet", () => {
    const pub = ok("pub", [
      "-t",
      "a",
      "-m",
      "x",
      "-D",
      "publish",
      "user-property",
      "k",
      "v",
      "-D",
      "publish",
      "user-property",
      "k",
      "w",
      "-D",
      "publish",
      "content-type",
      "text/plain",
      "-D",
      "publish",
      "correlation-data",
      "abc",
      "-D",
      "publish",
      "message-expiry-interval",
      "60",
      "-D",
      "connect",
      "receive-maximum",
      "10",
      "-D",
      "will",
      "will-delay-interval",
      "5",
      "-D",
      "disconnect",
      "reason-string",
      "bye",
    ]) as PubOptions;
    assert.equal(pub.protocolVersion, 5);
    assert.deepEqual(pub.properties.publish.userProperties, [["k", "v"], ["k", "w"]]);
    assert.equal(pub.properties.publish.contentType, "text/plain");
    assert.deepEqual(pub.properties.publish.correlationData, new TextEncoder().encode("abc"));
    assert.equal(pub.properties.publish.messageExpiryInterval, 60);
    assert.equal(pub.properties.connect.receiveMaximum, 10);
    assert.equal(pub.properties.will.willDelayInterval, 5);
    assert.equal(pub.properties.disconnect.reasonString, "bye");
    const base = ["-t", "a", "-m", "x", "-D"];
    fails("pub", [...base, "bogus", "user-property", "a", "b"]); // unknown command
    fails("pub", [...base, "connack", "user-property", "a", "b"]); // not sent by clients
    fails("pub", [...base, "connect", "foo", "1"]); // unknown property
    fails("pub", [...base, "connect", "topic-alias", "3"]); // not allowed in CONNECT
    fails("pub", [...base, "connect", "will-delay-interval", "3"]);
    fails("pub", [...base, "puback", "reason-string", "x"]); // not supported
    fails("pub", [...base, "publish", "subscription-identifier", "3"]);
    fails("pub", [...base, "publish", "user-property", "a"]); // missing value
    fails("pub", [...base, "publish", "content-type"]);
    fails("pub", [...base, "publish", "payload-format-indicator", "300"]);
    fails("pub", [...base, "publish", "message-expiry-interval", "-1"]);
    fails("pub", [...base, "publish", "topic-alias", "0"]);
    fails("pub", [...base, "publish", "topic-alias", "65536"]);
    fails("pub", [...base, "connect", "receive-maximum", "0"]);
    fails("pub", [...base, "connect", "request-problem-information", "2"]);
    fails("pub", [...base, "publish", "content-type", "a", "-D", "publish", "content-type", "b"]);
    // -V after -D wins, as in mosquitto
    const v4 = ok("pub", [...base, "publish", "content-type", "a", "-V", "311"]) as PubOptions;
    assert.equal(v4.protocolVersion, 4);
  });
});

describe("options files", () => {
  test("splitOptionsFile() splits at the first space and skips comments", () => {
    assert.deepEqual(splitOptionsFile("#c\n\n-t a b\r\n-v\n-D publish user-property k v w\n"), [
      ["-t", "a b"],
      ["-v"],
      ["-D", "publish", "user-property", "k", "v w"],
    ]);
  });

  test("defaultOptionsFile() follows mosquitto's lookup", () => {
    const env = { XDG_CONFIG_HOME: "/x", HOME: "/h", USERPROFILE: "C:\\Users\\me" };
    assert.equal(defaultOptionsFile("pub", { env, platform: "linux" }), "/x/mosquitto_pub");
    assert.equal(
      defaultOptionsFile("rr", { env: { HOME: "/h" }, platform: "darwin" }),
      "/h/.config/mosquitto_rr",
    );
    assert.equal(
      defaultOptionsFile("sub", { env, platform: "win32" }),
      "C:\\Users\\me\\mosquitto_sub.conf",
    );
    assert.equal(defaultOptionsFile("sub", { env: {}, platform: "linux" }), undefined);
  });

  test("parseClientArgs() prepends the default file and lets the command line win", async () => {
    const host = fakeHost({
      env: { HOME: "/home/pi" },
      files: { "/home/pi/.config/mosquitto_sub": "-h from.file\n-p 1999\n-v\n" },
    });
    const result = await parseClientArgs("sub", ["-t", "a", "-p", "2000"], host);
    assert.equal(result.kind, "options");
    if (result.kind !== "options") return;
    assert.equal(result.options.host, "from.file");
    assert.equal(result.options.port, 2000);
    assert.equal(result.options.verbose, true);
  });

  test("parseClientArgs() reads -o instead of the default file", async () => {
    const host = fakeHost({
      env: { XDG_CONFIG_HOME: "/cfg" },
      files: { "/cfg/mosquitto_pub": "-q 2\n", "/tmp/opts": "-t from/o\n-m hello world\n" },
    });
    const result = await parseClientArgs("pub", ["-o", "/tmp/opts"], host);
    assert.equal(result.kind, "options");
    if (result.kind !== "options") return;
    assert.equal(result.options.topic, "from/o");
    assert.equal(result.options.qos, 0);
    assert.deepEqual(result.options.message, {
      kind: "message",
      payload: new TextEncoder().encode("hello world"),
    });
  });

  test("parseClientArgs() fails on a missing -o file, a bad line or a duplicate -o", async () => {
    const host = fakeHost({ files: { "/bad": "-q 7\n" } });
    const missing = await parseClientArgs("pub", ["-o", "/nope", "-t", "a", "-m", "x"], host);
    assert.equal(missing.kind, "error");
    const bad = await parseClientArgs("pub", ["-o", "/bad", "-t", "a", "-m", "x"], host);
    assert.equal(bad.kind, "error");
    const twice = await parseClientArgs("pub", ["-o", "/bad", "-o", "/bad"], host);
    assert.equal(twice.kind, "error");
    const none = await parseClientArgs("pub", ["-o"], host);
    assert.equal(none.kind, "error");
  });
});
