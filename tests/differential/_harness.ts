/**
 * Differential testing: run one scripted raw-packet conversation against Debian's mosquitto
 * (started per test on a Unix socket in a temporary directory) and against mq (in-process,
 * TCP port 0), and record what each broker answered as a transcript to compare.
 *
 * Synchronisation never sleeps: `sync()` sends PINGREQ and records everything that arrives
 * before the PINGRESP (a broker answers one connection's packets in order), `expect(n)`
 * waits for n packets, `closed()` waits for the socket to close.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { chmodSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { TestContext } from "node:test";
import { startBroker } from "../../broker/broker.ts";
import type { BrokerOptions } from "../../broker/types.ts";
import { Decoder, encodePacket, type Packet, type ProtocolVersion } from "../../protocol/mod.ts";

/** The mosquitto binary the differential tests run. */
export const MOSQUITTO = "/usr/sbin/mosquitto";

/** How long any single wait may take before it is recorded as a timeout. */
const WAIT_MS = 3000;

/** Where a broker under test listens. */
export interface Target {
  /** Which broker. */
  name: "mosquitto" | "mq";
  /** How to reach it with `net.connect()`. */
  address: { path: string } | { host: string; port: number };
}

/** One line of a transcript. */
export type Entry =
  | { peer: string; received: Record<string, unknown> }
  | { peer: string; closed: true }
  | { peer: string; timeout: string };

/** Why mosquitto cannot run here, or `undefined`. On CI a missing mosquitto fails instead. */
export async function mosquittoMissing(): Promise<string | undefined> {
  const { existsSync } = await import("node:fs");
  if (existsSync(MOSQUITTO)) return undefined;
  if (process.env.CI === "true") throw new Error(`${MOSQUITTO} is missing on CI`);
  return `${MOSQUITTO} is not installed`;
}

/**
 * Start mosquitto with `allow_anonymous true` plus the given config lines on a Unix socket;
 * killed (and its directory removed) after the test. `files` are written into its directory
 * first, and `{dir}` in a config line names that directory.
 */
export async function startMosquitto(
  t: TestContext,
  config: string[] = [],
  files: Record<string, string> = {},
): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), "mq-diff-"));
  // mosquitto started as root drops to the "mosquitto" user before binding the socket.
  chmodSync(dir, 0o777);
  const path = join(dir, "mosquitto.sock");
  const conf = join(dir, "mosquitto.conf");
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), content);
    chmodSync(join(dir, name), 0o644);
  }
  const lines = config.map((line) => line.replaceAll("{dir}", dir));
  writeFileSync(
    conf,
    [`listener 0 ${path}`, "allow_anonymous true", "log_dest stderr", ...lines, ""].join("\n"),
  );
  const child = spawn(MOSQUITTO, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`mosquitto did not start: ${output}`)), 5000);
    function done(error?: Error): void {
      clearTimeout(timer);
      child.stderr!.off("data", onData);
      child.off("exit", onExit);
      if (error) reject(error);
      else resolve();
    }
    function onData(chunk: Uint8Array): void {
      output += new TextDecoder().decode(chunk);
      if (output.includes(" running")) done();
    }
    function onExit(): void {
      done(new Error(`mosquitto exited: ${output}`));
    }
    child.stderr!.on("data", onData);
    child.on("exit", onExit);
  });
  return { name: "mosquitto", address: { path } };
}

/** Start mq on 127.0.0.1 port 0 (no `$SYS`), closed after the test. */
export async function startMq(t: TestContext, options: BrokerOptions = {}): Promise<Target> {
  const broker = await startBroker({
    listeners: [{ hostname: "127.0.0.1", port: 0 }],
    sysInterval: 0,
    ...options,
  });
  t.after(() => broker.close());
  const { hostname, port } = broker.addresses[0]!;
  return { name: "mq", address: { host: hostname, port } };
}

/** A connection of a conversation. */
export class Peer {
  readonly label: string;
  readonly version: ProtocolVersion;
  readonly #conversation: Conversation;
  readonly #socket: net.Socket;
  readonly #decoder: Decoder;
  readonly #inbox: Packet[] = [];
  #closed = false;
  #wake: (() => void) | undefined;

  constructor(conversation: Conversation, label: string, version: ProtocolVersion) {
    this.#conversation = conversation;
    this.label = label;
    this.version = version;
    this.#decoder = new Decoder({ side: "client", protocolVersion: version });
    const a = conversation.target.address;
    this.#socket = "path" in a ? net.connect(a.path) : net.connect(a.port, a.host);
    this.#socket.on("data", (chunk: Uint8Array) => {
      this.#decoder.push(new Uint8Array(chunk));
      for (let p = this.#decoder.next(); p !== undefined; p = this.#decoder.next()) {
        this.#inbox.push(p);
      }
      this.#wake?.();
    });
    this.#socket.on("error", () => {});
    this.#socket.on("close", () => {
      this.#closed = true;
      this.#wake?.();
    });
  }

  /** Resolves once connected. */
  ready(): Promise<void> {
    if (!this.#socket.connecting) return Promise.resolve();
    return new Promise((resolve) => this.#socket.once("connect", () => resolve()));
  }

  /** Send a packet, encoded for this peer's protocol version. */
  send(packet: Packet): this {
    return this.raw(encodePacket(packet, this.version));
  }

  /** Send raw bytes. */
  raw(bytes: Uint8Array | number[]): this {
    if (!this.#closed && !this.#socket.destroyed) {
      this.#socket.write(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
    }
    return this;
  }

  /** Record what arrives up to the PINGRESP answering a PINGREQ sent now (or the close). */
  async sync(): Promise<void> {
    this.send({ type: "pingreq" });
    for (;;) {
      const packet = await this.#take();
      if (packet === undefined) return;
      if (packet.type === "pingresp") return;
      this.#record(packet);
    }
  }

  /** Record the next `count` packets. */
  async expect(count = 1): Promise<void> {
    for (let i = 0; i < count; i++) {
      const packet = await this.#take();
      if (packet === undefined) return;
      this.#record(packet);
    }
  }

  /** Record everything until the broker closes the connection. */
  async closed(): Promise<void> {
    for (;;) {
      const packet = await this.#take();
      if (packet === undefined) return;
      this.#record(packet);
    }
  }

  /** Close the socket cleanly (FIN). */
  end(): void {
    this.#socket.end();
  }

  /** Drop the connection (RST where the runtime can). */
  destroy(): void {
    this.#socket.destroy();
  }

  #record(packet: Packet): void {
    this.#conversation.entries.push({
      peer: this.label,
      received: this.#conversation.normalise(packet),
    });
  }

  // The next packet; undefined (recorded) when the socket closed or the wait timed out.
  async #take(): Promise<Packet | undefined> {
    const deadline = Date.now() + WAIT_MS;
    while (this.#inbox.length === 0) {
      if (this.#closed) {
        this.#conversation.entries.push({ peer: this.label, closed: true });
        return undefined;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#conversation.entries.push({ peer: this.label, timeout: `${WAIT_MS} ms` });
        return undefined;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
    return this.#inbox.shift();
  }

  /** Destroy without recording (cleanup). */
  dispose(): void {
    this.#socket.destroy();
  }
}

/** One run of a script against one broker. */
export class Conversation {
  readonly target: Target;
  readonly entries: Entry[] = [];
  readonly #peers: Peer[] = [];

  constructor(t: TestContext, target: Target) {
    this.target = target;
    t.after(() => {
      for (const p of this.#peers) p.dispose();
    });
  }

  /** Open a connection. */
  async open(label: string, version: ProtocolVersion): Promise<Peer> {
    const peer = new Peer(this, label, version);
    this.#peers.push(peer);
    await peer.ready();
    return peer;
  }

  /** A packet as recorded: payloads as text, assigned ids and per-broker values masked. */
  normalise(packet: Packet): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(packet)) {
      if (value instanceof Uint8Array) out[key] = new TextDecoder().decode(value);
      else if (key === "properties") {
        // A properties object holding only a (masked) reason string counts as none.
        const properties = normaliseProperties(value);
        if (Object.keys(properties).length > 0) out[key] = properties;
      } else out[key] = value;
    }
    return out;
  }
}

function normaliseProperties(properties: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(properties)) {
    if (key === "assignedClientIdentifier") out[key] = "<assigned>";
    else if (key === "reasonString") continue; // free text, differs between brokers
    else out[key] = value;
  }
  return out;
}

/** A scripted conversation: drives peers, the transcript is recorded. */
export type Script = (conversation: Conversation) => Promise<void>;

/** Run a script against one target and return its transcript. */
export async function transcript(
  t: TestContext,
  target: Target,
  script: Script,
): Promise<Entry[]> {
  const conversation = new Conversation(t, target);
  await script(conversation);
  return conversation.entries;
}
