import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, ConfigErrorKind } from "./config.ts";
import { fileAuthenticator, parsePasswordFile } from "./password_file.ts";
import type { AuthContext } from "./types.ts";

// Written by Debian's `mosquitto_passwd -c -b pw alice secret` (2.0.11).
const ALICE = "alice:$7$101$HIWCq8t8Csb1nG+c$xKNpq5/tdKUWZ6oE7cP945uYAkJ7KXdERof75mLLkMj0U2nIxd+" +
  "WJ7fdzX1BBQ5442EyIFvPfIauIea1rIUWbw==";
// mosquitto 1.6's `$6$` (SHA-512) format, password "pass6".
const DAVE = "dave:$6$OxApqPET12ibZJKi$ZER7+28yAFepHu3TgnLQ2KcwYWaqoayyDIziSCMAduQvl9s1hH" +
  "IEr2Yp2XmNlxuR4DXErzMJ3jhnQT2HqV6GHA==";

function context(username?: string, password?: string): AuthContext {
  const c: AuthContext = {
    clientId: "c",
    protocolVersion: 4,
    step: 0,
    reauthenticate: false,
    remoteAddress: { transport: "tcp", hostname: "127.0.0.1", port: 1 },
  };
  if (username !== undefined) c.username = username;
  if (password !== undefined) c.password = new TextEncoder().encode(password);
  return c;
}

test("parsePasswordFile() reads users, skips comments and warns about plain text", () => {
  const file = parsePasswordFile(`# users\n\n${ALICE}\r\n${DAVE}\nbob:plain\n`, "pw");
  assert.deepEqual([...file.users.keys()], ["alice", "dave", "bob"]);
  assert.deepEqual(file.warnings.map((w) => [w.file, w.line, w.key]), [["pw", 5, "password_file"]]);
});

test("parsePasswordFile() refuses a line without a user name", () => {
  assert.throws(() => parsePasswordFile(`${ALICE}\nnocolon\n`, "pw"), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.file, "pw");
    assert.equal(e.line, 2);
    assert.equal(e.kind, ConfigErrorKind.Syntax);
    return true;
  });
});

test("fileAuthenticator() accepts everyone when anonymous and without passwords", () => {
  assert.equal(fileAuthenticator({ allowAnonymous: true }), undefined);
});

test("fileAuthenticator() follows mosquitto 2's rules", async () => {
  const passwords = parsePasswordFile(`${ALICE}\n${DAVE}\nbob:plain\n`, "pw");
  const closed = fileAuthenticator({ allowAnonymous: false, passwords })!;
  assert.equal(await closed(context()), false);
  assert.equal(await closed(context("alice", "secret")), true);
  assert.equal(await closed(context("dave", "pass6")), true);
  assert.equal(await closed(context("alice", "wrong")), false);
  assert.equal(await closed(context("alice")), false);
  assert.equal(await closed(context("bob", "plain")), false);
  assert.equal(await closed(context("carol", "x")), false);
  const open = fileAuthenticator({ allowAnonymous: true, passwords })!;
  assert.equal(await open(context()), true);
  assert.equal(await open(context("carol", "x")), false);
  assert.equal(await open(context("alice", "secret")), true);
  const none = fileAuthenticator({ allowAnonymous: false })!;
  assert.equal(await none(context()), false);
  assert.equal(await none(context("alice", "secret")), false);
});
