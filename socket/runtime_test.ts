import assert from "node:assert/strict";
import process from "node:process";
import { describe, test } from "../tests/_testing.ts";
import { detectRuntime, loadTcpAdapter } from "./runtime.ts";

const versions = process.versions as Record<string, string | undefined>;
const expected = versions.deno !== undefined ? "deno" : versions.bun !== undefined ? "bun" : "node";

describe("runtime", () => {
  test("detectRuntime() names the runtime running the test", () => {
    assert.equal(detectRuntime(), expected);
  });

  test("loadTcpAdapter() loads the adapter of the current runtime", async () => {
    const adapter = await loadTcpAdapter();
    assert.equal(adapter.name, expected);
  });
});
