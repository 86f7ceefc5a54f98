/**
 * The install documentation holds together (issue 8): the README's install section names
 * this version's files and links pages that exist; docs/raspberry-pi.md's configuration is
 * one the broker accepts, at the paths the systemd unit uses; and `systemd-analyze verify`
 * accepts docs/systemd/mq.service. That the README lists exactly the files a release has is
 * checked by release_test.ts, which builds one.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseBrokerConfig } from "../../broker/config.ts";
import { installSection, releaseNames } from "./_readme.ts";
import { denoJsonVersion, ROOT, run, tempDir, which } from "./_run.ts";

const VERSION = denoJsonVersion();
const UNIT = join(ROOT, "docs/systemd/mq.service");

/** The `[Service]` (and other) settings of a unit file, as key to values. */
function unitSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("[")) continue;
    const eq = line.indexOf("=");
    assert.ok(eq > 0, `Not a setting: ${line}`);
    const key = line.slice(0, eq);
    settings.set(key, [...settings.get(key) ?? [], line.slice(eq + 1)]);
  }
  return settings;
}

/** The fenced code blocks of a markdown file with the given language. */
function codeBlocks(file: string, lang: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  return [...text.matchAll(new RegExp("^```" + lang + "\\n([\\s\\S]*?)^```$", "gm"))].map((m) =>
    m[1]!
  );
}

test("README install section names this version's release files and links existing docs", () => {
  const section = installSection();
  const names = releaseNames(section);
  assert.ok(names.length > 0, "no release file named");
  for (const name of names) {
    if (name === "SHA256SUMS") continue;
    assert.ok(name.includes(`-${VERSION}`), `${name} is not named with version ${VERSION}`);
  }
  const links = [...section.matchAll(/\]\(([^)#]+)\)/g)].map((m) => m[1]!);
  for (const must of ["docs/raspberry-pi.md", "docs/systemd/mq.service"]) {
    assert.ok(links.includes(must), `the install section does not link ${must}`);
  }
  for (const link of links.filter((l) => !/^[a-z]+:/.test(l))) {
    assert.ok(existsSync(join(ROOT, link)), `the install section links ${link}, which is missing`);
  }
});

test("docs/raspberry-pi.md's mq.yaml parses, at the paths docs/systemd/mq.service uses", () => {
  const [yaml] = codeBlocks("docs/raspberry-pi.md", "yaml");
  assert.ok(yaml !== undefined, "docs/raspberry-pi.md has no yaml block");
  const config = parseBrokerConfig(yaml, "/etc/mq/mq.yaml", { strict: true });
  assert.deepEqual(config.warnings, []);
  assert.deepEqual(config.options.listeners, [{ hostname: "0.0.0.0", port: 1883 }]);
  assert.equal(config.allowAnonymous, false);
  assert.equal(config.passwordFile, "/etc/mq/passwd");
  assert.ok(config.persistence !== undefined, "persistence is off");

  const unit = unitSettings(readFileSync(UNIT, "utf8"));
  assert.deepEqual(unit.get("User"), ["mq"]);
  assert.deepEqual(unit.get("ExecStart"), ["/usr/local/bin/mq broker -c /etc/mq/mq.yaml"]);
  assert.deepEqual(unit.get("Restart"), ["on-failure"]);
  // It would turn off the JavaScript engine's JIT: mq runs about 6 times slower without it.
  assert.equal(unit.has("MemoryDenyWriteExecute"), false);
  // ProtectSystem=strict leaves only the state directory writable: the store must be in it.
  assert.deepEqual(unit.get("ProtectSystem"), ["strict"]);
  const [state] = unit.get("StateDirectory") ?? [];
  assert.equal(dirname(config.persistence.file), `/var/lib/${state}`);
});

test(
  "docs/systemd/mq.service passes systemd-analyze verify",
  { timeout: 60_000, skip: which("systemd-analyze") === undefined && "systemd-analyze is missing" },
  async (t: TestContext) => {
    const dir = tempDir("mq-unit-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // verify checks that ExecStart's binary exists: point it at a stand-in.
    const binary = join(dir, "mq");
    copyFileSync(which("true") ?? "/bin/true", binary);
    const unit = readFileSync(UNIT, "utf8").replaceAll("/usr/local/bin/mq ", `${binary} `);
    assert.notEqual(unit, readFileSync(UNIT, "utf8"));
    writeFileSync(join(dir, "mq.service"), unit);
    const result = await run(which("systemd-analyze")!, ["verify", join(dir, "mq.service")], {
      cwd: dir,
      timeoutMs: 50_000,
    });
    assert.equal(result.code, 0, result.stderr);
    // Unknown keys and bad values are only warnings (exit 0): there must be none.
    assert.equal(result.stderr, "");
  },
);
