import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runPasswd } from "../../cli/passwd.ts";
import { hashPassword, verifyPassword } from "../../broker/password_hash.ts";
import { fakeHost } from "./_fake_host.ts";
import { mosquittoMissing, run, startMosquitto, tempDir } from "./_mosquitto.ts";

const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);

describe("mq passwd", () => {
  test("runPasswd() creates, updates and deletes entries", async () => {
    const host = fakeHost();
    assert.equal(await runPasswd(["-c", "-b", "pw", "alice", "a1"], host), 0);
    assert.equal(await runPasswd(["-b", "pw", "bob", "b1"], host), 0);
    assert.equal(await runPasswd(["-b", "pw", "alice", "a2"], host), 0);
    const lines = text(host.files.get("pw")).trimEnd().split("\n");
    assert.deepEqual(lines.map((l) => l.split(":")[0]), ["alice", "bob"]);
    assert.match(lines[0]!, /^alice:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    assert.equal(await verifyPassword(lines[0]!, "a2"), true);
    assert.equal(await verifyPassword(lines[0]!, "a1"), false);
    assert.equal(await runPasswd(["-D", "pw", "alice"], host), 0);
    assert.deepEqual(text(host.files.get("pw")).split(":")[0], "bob");
    assert.equal(await runPasswd(["-D", "pw", "alice"], host), 1);
    assert.equal(host.files.has("pw.tmp"), false);
  });

  test("runPasswd() prompts twice and exits 2 when the passwords differ", async () => {
    const same = fakeHost({ passwords: ["pw1", "pw1"] });
    assert.equal(await runPasswd(["-c", "f", "carol"], same), 0);
    assert.deepEqual(same.prompts, ["Password: ", "Reenter password: "]);
    assert.equal(await verifyPassword(text(same.files.get("f")), "pw1"), true);
    const differ = fakeHost({ passwords: ["pw1", "pw2"] });
    assert.equal(await runPasswd(["-c", "f", "carol"], differ), 2);
    assert.equal(differ.files.has("f"), false);
    const eof = fakeHost({ passwords: [] });
    assert.equal(await runPasswd(["-c", "f", "carol"], eof), 1);
    const empty = fakeHost({ passwords: ["", ""] });
    assert.equal(await runPasswd(["-c", "f", "carol"], empty), 1);
  });

  test("runPasswd() upgrades plain-text lines and keeps hashed ones", async () => {
    const hashed = `frank:${await hashPassword("f")}`;
    const host = fakeHost({ files: { pw: `eve:plain\n${hashed}\n` } });
    assert.equal(await runPasswd(["-U", "pw"], host), 0);
    const [eve, frank] = text(host.files.get("pw")).trimEnd().split("\n");
    assert.equal(await verifyPassword(eve!, "plain"), true);
    assert.equal(frank, hashed);
  });

  test("runPasswd() rejects bad usage with exit 1", async () => {
    for (
      const args of [
        [],
        ["-c", "-D", "f", "u"],
        ["-b", "f", "u"],
        ["-x", "f", "u"],
        ["-H", "md5", "-b", "f", "u", "p"],
        ["-b", "f", "a:b", "p"],
        ["-b", "missing", "u", "p"],
        ["-c", "-b", "/nonexistent/f", "u", "p"],
      ]
    ) {
      const host = fakeHost();
      assert.equal(await runPasswd(args, host), 1, args.join(" "));
      assert.match(host.err.text, /^(Error|Warning): /);
    }
    const help = fakeHost();
    assert.equal(await runPasswd(["--help"], help), 0);
    assert.match(help.out.text, /Usage: mq passwd/);
  });

  test("runPasswd() writes $6$ entries with -H sha512", async () => {
    const host = fakeHost();
    assert.equal(await runPasswd(["-H", "sha512", "-c", "-b", "f", "u", "p"], host), 0);
    const line = text(host.files.get("f")).trimEnd();
    assert.match(line, /^u:\$6\$/);
    assert.equal(await verifyPassword(line, "p"), true);
  });
});

const skip = mosquittoMissing("/usr/bin/mosquitto_pub", "/usr/bin/mosquitto_passwd");
const T = { timeout: 60_000, skip: skip ?? false };

describe("mq passwd against mosquitto", () => {
  test("runPasswd() writes files Debian's mosquitto accepts", T, async (t) => {
    const dir = tempDir(t);
    const host = fakeHost();
    assert.equal(await runPasswd(["-c", "-b", "pw", "alice", "s3cret"], host), 0);
    assert.equal(await runPasswd(["-H", "sha512", "-b", "pw", "bob", "b0b"], host), 0);
    const file = join(dir, "passwords");
    writeFileSync(file, host.files.get("pw")!, { mode: 0o644 });
    const port = await startMosquitto(t, `allow_anonymous false\npassword_file ${file}\n`);
    const pub = (user: string, password: string) =>
      run("/usr/bin/mosquitto_pub", [
        "-p",
        String(port),
        "-t",
        "a",
        "-m",
        "x",
        "-u",
        user,
        "-P",
        password,
      ]);
    assert.equal((await pub("alice", "s3cret")).code, 0);
    assert.equal((await pub("bob", "b0b")).code, 0);
    assert.notEqual((await pub("alice", "wrong")).code, 0);
    assert.notEqual((await pub("nobody", "s3cret")).code, 0);
  });

  test("verifyPassword() accepts files written by mosquitto_passwd", T, async (t) => {
    const dir = tempDir(t);
    const file = join(dir, "pw");
    const made = await run("/usr/bin/mosquitto_passwd", ["-c", "-b", file, "alice", "p 1"]);
    assert.equal(made.code, 0, made.stderr);
    const six = await run("/usr/bin/mosquitto_passwd", ["-H", "sha512", "-b", file, "bob", "q"]);
    assert.equal(six.code, 0, six.stderr);
    const [alice, bob] = readFileSync(file, "utf8").trimEnd().split("\n");
    assert.match(alice!, /^alice:\$7\$101\$/);
    assert.match(bob!, /^bob:\$6\$/);
    assert.equal(await verifyPassword(alice!, "p 1"), true);
    assert.equal(await verifyPassword(alice!, "p 2"), false);
    assert.equal(await verifyPassword(bob!, "q"), true);
    assert.equal(await verifyPassword(bob!, "Q"), false);
  });
});
