/**
 * A configuration file driving a real broker over TCP: the options it sets reach the
 * clients, and `password_file` / `allow_anonymous` refuse like mosquitto 2 (CONNACK 0x87,
 * return code 5).
 */
import { test } from "../_testing.ts";
import assert from "node:assert/strict";
import { parseBrokerConfig } from "../../broker/config.ts";
import { fileAuthenticator, parsePasswordFile } from "../../broker/password_file.ts";
import type { BrokerOptions } from "../../broker/types.ts";
import { hashPassword } from "../../broker/password_hash.ts";
import { brokerFor, bytes, RawClient } from "./_client.ts";

const T = { timeout: 10_000 };

test("parseBrokerConfig() options and fileAuthenticator() drive a TCP broker", T, async (t) => {
  const config = parseBrokerConfig(
    [
      "listener 0 127.0.0.1",
      "password_file pw",
      "max_qos 1",
      "max_keepalive 30",
      "max_packet_size 1000",
    ].join("\n"),
    "mosquitto.conf",
  );
  const passwords = parsePasswordFile(`bob:${await hashPassword("hunter2")}\n`, "pw");
  const options: BrokerOptions = { ...config.options, sysInterval: 0 };
  const authenticate = fileAuthenticator({ allowAnonymous: config.allowAnonymous, passwords });
  if (authenticate !== undefined) options.authenticate = authenticate;
  const broker = await brokerFor(t, options);
  assert.equal(broker.addresses[0]!.hostname, "127.0.0.1");

  const bob = await RawClient.tcp(t, broker, 5);
  const connack = await bob.connect("bob", {
    username: "bob",
    password: bytes("hunter2"),
    keepAlive: 0,
  });
  assert.equal(connack.reasonCode, 0);
  assert.equal(connack.properties?.maximumQoS, 1);
  assert.equal(connack.properties?.serverKeepAlive, 30);
  assert.equal(connack.properties?.maximumPacketSize, 1000);

  const wrong = await RawClient.tcp(t, broker, 5);
  assert.equal(
    (await wrong.connect("w", { username: "bob", password: bytes("nope") })).reasonCode,
    0x87,
  );
  await wrong.whenClosed();
  const anonymous = await RawClient.tcp(t, broker, 4);
  assert.equal((await anonymous.connect("a")).reasonCode, 5);
  await anonymous.whenClosed();
});
