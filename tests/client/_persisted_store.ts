/**
 * A store for tests that keeps its data serialized in a `Map` standing in for a file: a
 * new store over the same map reads what an earlier one wrote, as a new process would
 * read the file an earlier one left. With `async`, every call settles on a later macrotask,
 * like disk I/O.
 *
 * @module
 */

import type { ClientSessionSnapshot, InFlightStore } from "../../client/store.ts";
import type { PublishPacket } from "../../protocol/packet.ts";

interface Document {
  outgoing: [id: number, packet: PublishPacket, awaiting: "puback" | "pubrec" | "pubcomp"][];
  incoming: number[];
}

const KEY = "session";

function replacer(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? { $bytes: [...value] } : value;
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value === "object" && value !== null && "$bytes" in value) {
    return new Uint8Array((value as { $bytes: number[] }).$bytes);
  }
  return value;
}

/** An {@linkcode InFlightStore} over a `Map<string, string>` "disk". */
export class PersistedStore implements InFlightStore {
  readonly disk: Map<string, string>;
  readonly async: boolean;
  /** The calls made, as `"method id"`. */
  readonly calls: string[] = [];
  #watchers: (() => void)[] = [];

  constructor(disk: Map<string, string>, options: { async?: boolean } = {}) {
    this.disk = disk;
    this.async = options.async ?? false;
  }

  /** What the disk holds now. */
  peek(): ClientSessionSnapshot {
    const doc = this.#read();
    return {
      outgoing: doc.outgoing.map(([, packet, awaiting]) => ({ packet, awaiting })),
      incoming: doc.incoming,
    };
  }

  /** Resolves once `predicate` holds after a write, rejects after `timeout` ms. */
  until(predicate: (snapshot: ClientSessionSnapshot) => boolean, timeout = 5000): Promise<void> {
    if (predicate(this.peek())) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#watchers = this.#watchers.filter((w) => w !== check);
        reject(new Error(`Store did not reach the state in ${timeout} ms: ${this.calls}`));
      }, timeout);
      const check = () => {
        if (!predicate(this.peek())) return;
        clearTimeout(timer);
        this.#watchers = this.#watchers.filter((w) => w !== check);
        resolve();
      };
      this.#watchers.push(check);
    });
  }

  putOutgoing(packet: PublishPacket): void | Promise<void> {
    return this.#change(`putOutgoing ${packet.packetId}`, (doc) => {
      const awaiting = packet.qos === 1 ? "puback" : "pubrec";
      const at = doc.outgoing.findIndex(([id]) => id === packet.packetId);
      const entry: Document["outgoing"][number] = [packet.packetId!, packet, awaiting];
      if (at >= 0) doc.outgoing[at] = entry;
      else doc.outgoing.push(entry);
    });
  }

  releaseOutgoing(packetId: number): void | Promise<void> {
    return this.#change(`releaseOutgoing ${packetId}`, (doc) => {
      const entry = doc.outgoing.find(([id]) => id === packetId);
      if (entry !== undefined) entry[2] = "pubcomp";
    });
  }

  deleteOutgoing(packetId: number): void | Promise<void> {
    return this.#change(`deleteOutgoing ${packetId}`, (doc) => {
      doc.outgoing = doc.outgoing.filter(([id]) => id !== packetId);
    });
  }

  putIncoming(packetId: number): void | Promise<void> {
    return this.#change(`putIncoming ${packetId}`, (doc) => {
      if (!doc.incoming.includes(packetId)) doc.incoming.push(packetId);
    });
  }

  deleteIncoming(packetId: number): void | Promise<void> {
    return this.#change(`deleteIncoming ${packetId}`, (doc) => {
      doc.incoming = doc.incoming.filter((id) => id !== packetId);
    });
  }

  load(): ClientSessionSnapshot | Promise<ClientSessionSnapshot> {
    this.calls.push("load");
    return this.async ? this.#later(() => this.peek()) : this.peek();
  }

  #read(): Document {
    const text = this.disk.get(KEY);
    return text === undefined ? { outgoing: [], incoming: [] } : JSON.parse(text, reviver);
  }

  #change(call: string, apply: (doc: Document) => void): void | Promise<void> {
    this.calls.push(call);
    const write = () => {
      const doc = this.#read();
      apply(doc);
      this.disk.set(KEY, JSON.stringify(doc, replacer));
      for (const watcher of [...this.#watchers]) watcher();
    };
    if (!this.async) return write();
    return this.#later(write);
  }

  #later<T>(fn: () => T): Promise<T> {
    return new Promise((resolve) => setTimeout(() => resolve(fn()), 1));
  }
}
