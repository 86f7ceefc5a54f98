#!/usr/bin/env node
/**
 * The `mq` command-line entry. This file and the runtime adapters in socket/ are the only
 * places allowed to touch runtime globals: it implements {@linkcode CliHost} once with
 * `node:` modules (which Deno, Bun and Node all provide) and hands it to `mq.ts`.
 *
 * @module
 */
import { readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import process from "node:process";
import { ChunkInput } from "./_input.ts";
import type { CliHost, CliOutput, HostSignal, MemoryUsage, WriteFileOptions } from "./host.ts";
import { main } from "./mq.ts";
import { runPub } from "./pub.ts";
import { runRr } from "./rr.ts";
import { runSub } from "./sub.ts";

interface WritableLike {
  isTTY?: boolean;
  write(data: Uint8Array | string): boolean;
}

function output(stream: WritableLike): CliOutput {
  return {
    isTTY: stream.isTTY === true,
    write: (bytes) => void stream.write(bytes),
    writeText: (text) => void stream.write(text),
  };
}

function runtimeName(): string {
  const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  if (g.Deno !== undefined) return `deno ${g.Deno.version.deno}`;
  if (g.Bun !== undefined) return `bun ${g.Bun.version}`;
  return `node ${process.versions.node}`;
}

const stdin = new ChunkInput(
  () => process.stdin as AsyncIterable<Uint8Array>,
  process.stdin.isTTY === true,
);

/** Read a line from the terminal in raw mode, echoing nothing. */
function readHidden(prompt: string): Promise<string | undefined> {
  const input = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve) => {
    let text = "";
    const decoder = new TextDecoder();
    const finish = (value: string | undefined) => {
      input.off("data", onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write("\n");
      resolve(value);
    };
    const onData = (chunk: Uint8Array | string) => {
      const s = typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
      for (const c of s) {
        if (c === "\r" || c === "\n") return finish(text);
        if (c === "\u0003") { // Ctrl-C
          finish(undefined);
          process.exit(130);
        }
        if (c === "\u0004") return finish(text === "" ? undefined : text); // Ctrl-D
        if (c === "\u007f" || c === "\b") text = [...text].slice(0, -1).join("");
        else text += c;
      }
    };
    input.setRawMode(true);
    input.resume();
    input.on("data", onData);
  });
}

const host: CliHost = {
  args: process.argv.slice(2),
  env: process.env,
  platform: process.platform,
  arch: process.arch,
  runtime: runtimeName(),
  stdout: output(process.stdout),
  stderr: output(process.stderr),
  stdin,
  readFile: async (path: string) => new Uint8Array(await readFile(path)),
  writeFile: (path: string, data: Uint8Array, options?: WriteFileOptions) =>
    writeFile(path, data, options?.mode === undefined ? {} : { mode: options.mode }),
  rename: (from: string, to: string) => rename(from, to),
  removeFile: (path: string) => rm(path, { force: true }),
  async readPassword(prompt: string): Promise<string | undefined> {
    if (process.stdin.isTTY === true && typeof process.stdin.setRawMode === "function") {
      return await readHidden(prompt);
    }
    process.stderr.write(prompt);
    const line = await stdin.readLine();
    if (process.stderr.isTTY) process.stderr.write("\n");
    return line === undefined ? undefined : new TextDecoder().decode(line).replace(/\r$/, "");
  },
  onSignal(signal: HostSignal, handler: () => void): () => void {
    try {
      process.on(signal, handler);
    } catch {
      return () => {}; // the signal does not exist on this platform (Windows)
    }
    return () => void process.off(signal, handler);
  },
  setExitCode: (code: number) => void (process.exitCode = code),
  exit: (code: number) => process.exit(code),
  memoryUsage(): MemoryUsage {
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed };
  },
  homeDir: () => homedir() || undefined,
  now: () => Date.now(),
  pid: process.pid,
  readDir: (path: string) => readdir(path),
};

process.exitCode = await main(host.args, host, {
  clients: { pub: runPub, sub: runSub, rr: runRr },
});
