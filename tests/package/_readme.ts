/**
 * The README's install section, as the package tests read it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./_run.ts";

/** The README's "## Install" section, up to the next second-level heading. */
export function installSection(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("\n## Install\n");
  assert.ok(start >= 0, "README.md has no ## Install section");
  const end = readme.indexOf("\n## ", start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** The release file names a text mentions: `mq-<v>-<os>-<arch>[.exe]`, `mqx-<v>.tgz`, `SHA256SUMS`. */
export function releaseNames(text: string): string[] {
  const names = text.match(
    /\bmq-\d+\.\d+\.\d+[-\w.]*-[a-z]+-[a-z0-9]+(?:\.exe)?|\bmqx-\d[\w.-]*\.tgz|\bSHA256SUMS\b/g,
  );
  return [...new Set(names ?? [])].sort();
}
