// This module is browser compatible.
/**
 * mosquitto password file hashes: `$7$` (PBKDF2-HMAC-SHA512, 101 iterations, 12-byte
 * salt, 64-byte key; what mosquitto_passwd 2.x writes) and `$6$` (SHA-512 of password then
 * salt; mosquitto 1.6 and earlier). Uses only WebCrypto (`crypto.subtle`), so the broker
 * can import it later to check `password_file` entries on any runtime.
 *
 * @module
 */

/** mosquitto_passwd's PBKDF2 iteration count. */
export const PBKDF2_ITERATIONS = 101;
/** mosquitto_passwd's salt length in bytes. */
export const SALT_LENGTH = 12;

const encoder = new TextEncoder();

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array | undefined {
  try {
    const binary = atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}

async function pbkdf2(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-512", salt: salt as Uint8Array<ArrayBuffer>, iterations },
    key,
    512,
  );
  return new Uint8Array(bits);
}

async function sha512(password: string, salt: Uint8Array): Promise<Uint8Array> {
  const p = encoder.encode(password);
  const data = new Uint8Array(p.length + salt.length);
  data.set(p);
  data.set(salt, p.length);
  return new Uint8Array(await crypto.subtle.digest("SHA-512", data));
}

/** The hash algorithm of a password entry, as mosquitto_passwd's `-H` names them. */
export type PasswordHashAlgorithm = "sha512-pbkdf2" | "sha512";

/** Options for {@linkcode hashPassword}. */
export interface HashPasswordOptions {
  /** Default `"sha512-pbkdf2"` (`$7$`). */
  algorithm?: PasswordHashAlgorithm;
  /** The salt; default 12 random bytes. */
  salt?: Uint8Array;
  /** PBKDF2 iterations; default 101. */
  iterations?: number;
}

/**
 * Hash a password as mosquitto_passwd does, e.g. `$7$101$<salt>$<hash>` (base64 parts).
 *
 * @example Hash and verify
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashPassword, verifyPassword } from "./password_hash.ts";
 * const hash = await hashPassword("secret");
 * assert.match(hash, /^\$7\$101\$/);
 * assert.equal(await verifyPassword(`alice:${hash}`, "secret"), true);
 * ```
 *
 * @param password The password.
 * @param options Algorithm, salt and iterations.
 * @returns The hash field of a password file line.
 */
export async function hashPassword(
  password: string,
  options: HashPasswordOptions = {},
): Promise<string> {
  const salt = options.salt ?? crypto.getRandomValues(new Uint8Array(SALT_LENGTH));
  if (options.algorithm === "sha512") {
    return `$6$${toBase64(salt)}$${toBase64(await sha512(password, salt))}`;
  }
  const iterations = options.iterations ?? PBKDF2_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1) {
    throw new RangeError(
      `Cannot hash password: iterations ${iterations} is not a positive integer`,
    );
  }
  return `$7$${iterations}$${toBase64(salt)}$${toBase64(await pbkdf2(password, salt, iterations))}`;
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Whether `password` matches a password file entry: a whole line (`user:$7$...`) or just
 * its hash field. `$6$` and `$7$` entries are understood; anything else (plain text,
 * unknown schemes, malformed base64) never matches, as in mosquitto 2.
 *
 * @example Check a line written by mosquitto_passwd
 * ```ts
 * import assert from "node:assert/strict";
 * import { verifyPassword } from "./password_hash.ts";
 * const line = "dave:$6$OxApqPET12ibZJKi$ZER7+28yAFepHu3TgnLQ2KcwYWaqoayyDIziSCMAduQvl9s1hH" +
 *   "IEr2Yp2XmNlxuR4DXErzMJ3jhnQT2HqV6GHA==";
 * assert.equal(await verifyPassword(line, "pass6"), true);
 * assert.equal(await verifyPassword(line, "wrong"), false);
 * ```
 *
 * @param line The password file line or hash field.
 * @param password The password to check.
 * @returns Whether it matches.
 */
export async function verifyPassword(line: string, password: string): Promise<boolean> {
  const trimmed = line.replace(/[\r\n]+$/, "");
  const dollar = trimmed.indexOf("$");
  const colon = trimmed.lastIndexOf(":", dollar < 0 ? undefined : dollar);
  const hash = dollar >= 0 && colon >= 0 ? trimmed.slice(colon + 1) : trimmed;
  const parts = hash.split("$");
  if (parts[0] !== "") return false;
  if (parts[1] === "6" && parts.length === 4) {
    const salt = fromBase64(parts[2]!);
    const expected = fromBase64(parts[3]!);
    if (salt === undefined || expected === undefined) return false;
    return constantTimeEqual(await sha512(password, salt), expected);
  }
  if (parts[1] === "7" && parts.length === 5) {
    const iterations = Number(parts[2]);
    const salt = fromBase64(parts[3]!);
    const expected = fromBase64(parts[4]!);
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > 10_000_000) return false;
    if (salt === undefined || expected === undefined || expected.length !== 64) return false;
    return constantTimeEqual(await pbkdf2(password, salt, iterations), expected);
  }
  return false;
}

/**
 * Whether a hash field is one mosquitto understands (`$6$` or `$7$`), i.e. not plain text.
 *
 * @example Plain text is not hashed
 * ```ts
 * import assert from "node:assert/strict";
 * import { isHashed } from "./password_hash.ts";
 * assert.equal(isHashed("plain"), false);
 * assert.equal(isHashed("$7$101$abc$def"), true);
 * ```
 *
 * @param hash The part after `user:`.
 * @returns Whether it is hashed.
 */
export function isHashed(hash: string): boolean {
  return /^\$6\$[^$]+\$[^$]+$/.test(hash) || /^\$7\$\d+\$[^$]+\$[^$]+$/.test(hash);
}
