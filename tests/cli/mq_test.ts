import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { main } from "../../cli/mq.ts";
import { runClientCommand } from "../../cli/client_command.ts";
import type { SubOptions } from "../../cli/_args.ts";
import { fakeHost } from "./_fake_host.ts";
import { run } from "./_mosquitto.ts";

describe("main()", () => {
  test("main() prints help and version consistently", async () => {
    const help = fakeHost();
    assert.equal(await main(["--help"], help), 0);
    for (const command of ["broker", "pub", "sub", "rr", "passwd"]) {
      assert.match(help.out.text, new RegExp(`^  ${command} `, "m"));
    }
    const version = fakeHost();
    assert.equal(await main(["--version"], version), 0);
    assert.match(version.out.text, /^mq \d+\.\d+\.\d+ \(fake 1\.0, linux\)\n$/);
    for (const command of ["pub", "sub", "rr"]) {
      const h = fakeHost();
      assert.equal(await main([command, "--help"], h), 0);
      assert.match(h.out.text, new RegExp(`^mq ${command} `));
      assert.match(h.out.text, /-t, --topic <topic>/);
      const v = fakeHost();
      assert.equal(await main([command, "--version"], v), 0);
      assert.match(v.out.text, new RegExp(`^mq ${command} \\d`));
    }
    const none = fakeHost();
    assert.equal(await main([], none), 1);
    const unknown = fakeHost();
    assert.equal(await main(["bogus"], unknown), 1);
    assert.match(unknown.err.text, /unknown command "bogus"/);
  });

  test("main() reports a usage error in one line plus a hint, with exit 1", async () => {
    for (
      const args of [
        ["pub", "-t", "a/#", "-m", "x"],
        ["pub", "--bogus"],
        ["sub", "-t"],
        ["sub", "-t", "a", "-q", "3"],
        ["rr", "-t", "a", "-m", "x"],
      ]
    ) {
      const host = fakeHost();
      assert.equal(await main(args, host), 1, args.join(" "));
      const lines = host.err.text.trimEnd().split("\n");
      assert.equal(lines.length, 2, host.err.text);
      assert.match(lines[0]!, /^Error: /);
      assert.equal(lines[1], `Use 'mq ${args[0]} --help' to see usage.`);
      assert.equal(host.out.text, "");
    }
  });

  test("runClientCommand() hands typed options to the runner", async () => {
    const host = fakeHost();
    let seen: SubOptions | undefined;
    const code = await runClientCommand("sub", ["-t", "a/#", "-v"], host, {
      sub: (options) => {
        seen = options;
        return Promise.resolve(0);
      },
    });
    assert.equal(code, 0);
    assert.deepEqual(seen?.topics, ["a/#"]);
    assert.equal(seen?.verbose, true);
  });

  test("main() runs the passwd and broker commands", async () => {
    const host = fakeHost();
    assert.equal(await main(["passwd", "-c", "-b", "f", "u", "p"], host), 0);
    assert.ok(host.files.has("f"));
    assert.equal(await main(["broker", "-x"], fakeHost()), 3);
  });
});

/** How to run cli/main.ts as a subprocess under the current runtime. */
function mqCommand(): [string, string[]] {
  const g = globalThis as { Deno?: unknown; Bun?: unknown };
  const here = import.meta.url;
  const ext = here.endsWith(".js") ? "js" : "ts";
  const entry = fileURLToPath(new URL(`../../cli/main.${ext}`, here));
  if (g.Deno !== undefined) return [process.execPath, ["run", "-A", entry]];
  return [process.execPath, [entry]];
}

describe("mq as a subprocess", () => {
  const T = { timeout: 30_000 };

  test("mq --version names the runtime and exits 0", T, async () => {
    const [command, args] = mqCommand();
    const result = await run(command, [...args, "--version"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(new TextDecoder().decode(result.stdout), /^mq \d+\.\d+\.\d+ \((deno|bun|node) /);
  });

  test("mq pub with a wildcard topic prints one error line and exits 1", T, async () => {
    const [command, args] = mqCommand();
    const result = await run(command, [...args, "pub", "-t", "a/#", "-m", "x"], {
      env: { XDG_CONFIG_HOME: "/nonexistent" },
    });
    assert.equal(result.code, 1);
    assert.equal(result.stdout.length, 0);
    assert.match(result.stderr, /^Error: Invalid publish topic 'a\/#'.*\nUse 'mq pub --help'/);
  });

  test("mq passwd reads the password twice from piped stdin", T, async () => {
    const [command, args] = mqCommand();
    const { mkdtempSync, readFileSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = mkdtempSync(join(tmpdir(), "mq-passwd-"));
    try {
      const file = join(dir, "pw");
      const result = await run(command, [...args, "passwd", "-c", file, "zoe"], {
        stdin: "pass word\npass word\n",
      });
      assert.equal(result.code, 0, result.stderr);
      const { verifyPassword } = await import("../../broker/password_hash.ts");
      assert.equal(await verifyPassword(readFileSync(file, "utf8"), "pass word"), true);
      const mismatch = await run(command, [...args, "passwd", "-c", file, "zoe"], {
        stdin: "a\nb\n",
      });
      assert.equal(mismatch.code, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
