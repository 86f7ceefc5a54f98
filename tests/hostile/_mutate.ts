/**
 * The fuzzer's input generator: random bytes and mutations (bit flips, truncation, length
 * field corruption, splicing, duplicated and removed bytes) of the valid packet fixtures of
 * every type and version, and of the malformed fixtures. Seeded, so a failure replays from
 * its seed on every runtime.
 *
 * @module
 */

import { FIXTURES, hexToBytes } from "../../protocol/_fixtures.ts";
import { MALFORMED_FIXTURES } from "../../protocol/_malformed_fixtures.ts";
import { Random } from "../../protocol/_test_random.ts";
import type { PacketName, ProtocolVersion } from "../../protocol/mod.ts";

/** A seed input: a fixture's bytes. */
export interface Seed {
  /** The fixture's protocol version (undefined for a malformed fixture without one). */
  version: ProtocolVersion | undefined;
  /** The packet type of a valid fixture; undefined for a malformed one. */
  type: PacketName | undefined;
  /** The bytes. */
  bytes: Uint8Array;
}

/** The valid fixtures, every packet type of every version. */
export const VALID_SEEDS: readonly Seed[] = FIXTURES.map((f) => ({
  version: f.version,
  type: f.packet.type,
  bytes: hexToBytes(f.hex),
}));

/** The valid CONNECT fixtures of every version. */
export const CONNECT_SEEDS: readonly Seed[] = VALID_SEEDS.filter((s) => s.type === "connect");

/** The malformed fixtures. */
export const MALFORMED_SEEDS: readonly Seed[] = MALFORMED_FIXTURES.map((f) => ({
  version: f.version,
  type: undefined,
  bytes: hexToBytes(f.hex),
}));

/** The mutation strategies, by name (for the statistics). */
export const Mutation = {
  Random: "random",
  BitFlip: "bit-flip",
  ByteSet: "byte-set",
  Truncate: "truncate",
  TruncateReframed: "truncate-reframed",
  Length: "length",
  Splice: "splice",
  Duplicate: "duplicate",
  Remove: "remove",
  Stacked: "stacked",
} as const;

/** A mutation strategy. */
export type Mutation = typeof Mutation[keyof typeof Mutation];

/** A generated input. */
export interface Input {
  /** How it was made. */
  mutation: Mutation;
  /** The bytes to send. */
  bytes: Uint8Array;
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x3f, 0x40, 0xc0];

// Where the fixed header ends: 1 + the bytes of the Remaining Length (up to 4), or the whole
// input when the varint does not terminate.
function headerEnd(bytes: Uint8Array): number {
  let i = 1;
  while (i < bytes.length && i < 5) {
    if ((bytes[i]! & 0x80) === 0) return i + 1;
    i++;
  }
  return Math.min(bytes.length, 5);
}

function varint(n: number, minBytes = 1): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0 || out.length + 1 < minBytes) b |= 0x80;
    out.push(b);
  } while (n > 0 || out.length < minBytes);
  return out;
}

function concat(parts: (Uint8Array | number[])[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

// A packet with the first byte of `bytes` and `body` (Remaining Length recomputed).
function reframe(first: number, body: Uint8Array): Uint8Array {
  return concat([[first], varint(body.length), body]);
}

function body(bytes: Uint8Array): Uint8Array {
  return bytes.subarray(headerEnd(bytes));
}

/** Generates inputs from a seed. */
export class Mutator {
  readonly random: Random;
  readonly #valid: readonly Seed[];
  readonly #byVersion: Map<ProtocolVersion, Seed[]>;

  /**
   * Create a generator.
   *
   * @param seed The seed of the pseudo-random sequence.
   */
  constructor(seed: number) {
    this.random = new Random(seed);
    this.#valid = VALID_SEEDS;
    this.#byVersion = new Map();
    for (const s of VALID_SEEDS) {
      const list = this.#byVersion.get(s.version!) ?? [];
      list.push(s);
      this.#byVersion.set(s.version!, list);
    }
  }

  /**
   * A seed: mostly a valid fixture of the connection's version, sometimes of another version
   * or a malformed fixture.
   *
   * @param version The connection's protocol version.
   * @returns The seed.
   */
  seed(version: ProtocolVersion): Seed {
    const r = this.random;
    if (r.chance(0.08)) return r.pick(MALFORMED_SEEDS);
    if (r.chance(0.1)) return r.pick(this.#valid);
    return r.pick(this.#byVersion.get(version)!);
  }

  /**
   * One input for a connection of `version`.
   *
   * @param version The connection's protocol version.
   * @returns The input.
   */
  next(version: ProtocolVersion): Input {
    const r = this.random;
    const roll = r.next();
    if (roll < 0.06) return { mutation: Mutation.Random, bytes: this.#randomBytes() };
    const seed = this.seed(version).bytes;
    if (roll < 0.16) {
      let bytes = seed;
      const n = r.int(2, 3);
      for (let i = 0; i < n; i++) bytes = this.#mutateOnce(bytes, version).bytes;
      return { mutation: Mutation.Stacked, bytes };
    }
    return this.#mutateOnce(seed, version);
  }

  /**
   * One input for the first packet of a connection: mostly a mutated CONNECT of any version.
   *
   * @returns The input.
   */
  first(): Input {
    const r = this.random;
    const version = r.pick([3, 4, 5, 5] as const);
    if (r.chance(0.3)) return this.next(version);
    const seed = r.pick(CONNECT_SEEDS).bytes;
    if (r.chance(0.15)) {
      let bytes = seed;
      const n = r.int(2, 3);
      for (let i = 0; i < n; i++) bytes = this.#mutateOnce(bytes, version).bytes;
      return { mutation: Mutation.Stacked, bytes };
    }
    return this.#mutateOnce(seed, version);
  }

  /**
   * One input that leaves the fixed header alone: a bit flip or byte change in the body, or
   * bytes of the body duplicated or removed with the Remaining Length fixed. More of these
   * decode (about a third), which fills connections with inputs they survive at less cost.
   *
   * @param version The connection's protocol version.
   * @returns The input.
   */
  gentle(version: ProtocolVersion): Input {
    const r = this.random;
    const seed = r.pick(this.#byVersion.get(version)!).bytes;
    const start = headerEnd(seed);
    if (start >= seed.length) return { mutation: Mutation.BitFlip, bytes: this.#bitFlip(seed) };
    const roll = r.next();
    if (roll < 0.45) {
      const out = seed.slice();
      out[r.int(start, out.length - 1)]! ^= 1 << r.int(0, 7);
      return { mutation: Mutation.BitFlip, bytes: out };
    }
    if (roll < 0.75) {
      const out = seed.slice();
      out[r.int(start, out.length - 1)] = r.chance(0.6) ? r.pick(INTERESTING) : r.int(0, 255);
      return { mutation: Mutation.ByteSet, bytes: out };
    }
    const b = body(seed);
    const from = r.int(0, b.length - 1);
    const to = r.int(from + 1, Math.min(b.length, from + 8));
    if (roll < 0.88) {
      const out = concat([b.subarray(0, to), b.subarray(from, to), b.subarray(to)]);
      return { mutation: Mutation.Duplicate, bytes: reframe(seed[0]!, out) };
    }
    const out = concat([b.subarray(0, from), b.subarray(to)]);
    return { mutation: Mutation.Remove, bytes: reframe(seed[0]!, out) };
  }

  #mutateOnce(seed: Uint8Array, version: ProtocolVersion): Input {
    const r = this.random;
    const roll = r.next();
    if (roll < 0.3) return { mutation: Mutation.BitFlip, bytes: this.#bitFlip(seed) };
    if (roll < 0.42) return { mutation: Mutation.ByteSet, bytes: this.#byteSet(seed) };
    if (roll < 0.47) return { mutation: Mutation.Truncate, bytes: this.#truncate(seed) };
    if (roll < 0.57) {
      return { mutation: Mutation.TruncateReframed, bytes: this.#truncateReframed(seed) };
    }
    if (roll < 0.69) return { mutation: Mutation.Length, bytes: this.#length(seed) };
    if (roll < 0.81) return { mutation: Mutation.Splice, bytes: this.#splice(seed, version) };
    if (roll < 0.91) return { mutation: Mutation.Duplicate, bytes: this.#duplicate(seed) };
    return { mutation: Mutation.Remove, bytes: this.#remove(seed) };
  }

  #randomBytes(): Uint8Array {
    const r = this.random;
    const bytes = r.bytes(r.int(1, 48));
    // Half of them start with a plausible fixed header so they reach the body decoders.
    if (r.chance()) {
      const first = (r.int(1, 15) << 4) | (r.chance(0.7) ? 0 : r.int(0, 15));
      return reframe(first, bytes.subarray(1));
    }
    return bytes;
  }

  #bitFlip(seed: Uint8Array): Uint8Array {
    const r = this.random;
    const out = seed.slice();
    const n = r.int(1, 4);
    for (let i = 0; i < n; i++) out[r.int(0, out.length - 1)]! ^= 1 << r.int(0, 7);
    return out;
  }

  #byteSet(seed: Uint8Array): Uint8Array {
    const r = this.random;
    const out = seed.slice();
    // Prefer the body (after the fixed header), where string lengths and property ids live.
    const start = out.length > 2 && r.chance(0.8) ? Math.min(headerEnd(out), out.length - 1) : 0;
    out[r.int(start, out.length - 1)] = r.chance(0.6) ? r.pick(INTERESTING) : r.int(0, 255);
    return out;
  }

  // Cut short: the Remaining Length still promises more (the broker has to wait).
  #truncate(seed: Uint8Array): Uint8Array {
    if (seed.length < 2) return seed.slice();
    return seed.slice(0, this.random.int(1, seed.length - 1));
  }

  // Cut the body short and fix the Remaining Length: fields run past the end.
  #truncateReframed(seed: Uint8Array): Uint8Array {
    const b = body(seed);
    return reframe(seed[0]!, b.slice(0, this.random.int(0, Math.max(0, b.length - 1))));
  }

  #length(seed: Uint8Array): Uint8Array {
    const r = this.random;
    const b = body(seed);
    const roll = r.next();
    if (roll < 0.25) {
      // Claims less than there is: the rest is read as the next packet.
      return concat([[seed[0]!], varint(r.int(0, Math.max(0, b.length - 1))), b]);
    }
    if (roll < 0.45) {
      // Claims a little more than there is: the broker waits, or reads the next input.
      return concat([[seed[0]!], varint(b.length + r.int(1, 8)), b]);
    }
    if (roll < 0.6) {
      // Claims far more (up to 256 MB).
      return concat([[seed[0]!], varint(r.int(b.length + 1, 268_435_455)), b]);
    }
    if (roll < 0.8) {
      // A non-minimal Remaining Length (valid for MQTT, and a form decoders get wrong).
      return concat([[seed[0]!], varint(b.length, r.int(2, 4)), b]);
    }
    // A Remaining Length of five bytes or more, which is malformed.
    return concat([[seed[0]!, 0xff, 0xff, 0xff, 0xff, r.int(0, 0xff)], b]);
  }

  #splice(seed: Uint8Array, version: ProtocolVersion): Uint8Array {
    const r = this.random;
    const other = this.seed(version).bytes;
    if (r.chance()) {
      // The fixed header of one packet with the body of another.
      return reframe(seed[0]!, body(other));
    }
    // The start of one with the end of another (raw, lengths as they fall).
    return concat([
      seed.subarray(0, r.int(1, seed.length)),
      other.subarray(r.int(0, other.length)),
    ]);
  }

  #duplicate(seed: Uint8Array): Uint8Array {
    const r = this.random;
    const from = r.int(0, seed.length - 1);
    const to = r.int(from + 1, Math.min(seed.length, from + 16));
    const copies = r.int(1, 3);
    const parts: Uint8Array[] = [seed.subarray(0, to)];
    for (let i = 0; i < copies; i++) parts.push(seed.subarray(from, to));
    parts.push(seed.subarray(to));
    const out = concat(parts);
    return r.chance() ? reframe(out[0]!, body(out)) : out;
  }

  #remove(seed: Uint8Array): Uint8Array {
    const r = this.random;
    if (seed.length < 2) return seed.slice();
    const from = r.int(1, seed.length - 1);
    const to = r.int(from + 1, Math.min(seed.length, from + 8));
    const out = concat([seed.subarray(0, from), seed.subarray(to)]);
    return r.chance() ? reframe(out[0]!, body(out)) : out;
  }
}
