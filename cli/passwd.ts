/**
 * `mq passwd`: manage mosquitto password files with mosquitto_passwd's interface (`-c`
 * create, `-b` batch, `-D` delete, `-U` upgrade, `-H` algorithm, a prompt with
 * confirmation otherwise), writing `$7$` lines that mosquitto accepts.
 *
 * @module
 */

import { VERSION } from "../version.ts";
import type { CliHost } from "./host.ts";
import { hashPassword, isHashed, type PasswordHashAlgorithm } from "../broker/password_hash.ts";

/** What `mq passwd` uses from the host. */
export type PasswdHost = Pick<
  CliHost,
  "stdout" | "stderr" | "readFile" | "writeFile" | "rename" | "removeFile" | "readPassword"
>;

const USAGE = `mq passwd ${VERSION}: manage password files for mq broker and mosquitto

Usage: mq passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username
       mq passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password
       mq passwd -U passwordfile

 -b : batch mode: take the password from the command line.
 -c : create the password file, replacing an existing one.
 -D : delete the user instead of setting its password.
 -H : hash algorithm: sha512-pbkdf2 (the default, $7$) or sha512 ($6$, mosquitto 1.6).
 -U : hash every plain-text password in the file (already hashed lines are kept).

Without -b, the password is read twice from the terminal without echo (or, when standard
input is not a terminal, as two lines of it).`;

/** Exit codes of `mq passwd`, as mosquitto_passwd's. */
export const PasswdExit = {
  /** Success. */
  Success: 0,
  /** Usage errors, unreadable or unwritable files, unknown user with `-D`. */
  Error: 1,
  /** The two passwords typed differ. */
  Mismatch: 2,
} as const;
/** An exit code of `mq passwd`. */
export type PasswdExit = typeof PasswdExit[keyof typeof PasswdExit];

interface PasswdArgs {
  create: boolean;
  batch: boolean;
  remove: boolean;
  upgrade: boolean;
  algorithm: PasswordHashAlgorithm;
  rest: string[];
}

function parse(args: readonly string[]): PasswdArgs | string | "help" {
  const a: PasswdArgs = {
    create: false,
    batch: false,
    remove: false,
    upgrade: false,
    algorithm: "sha512-pbkdf2",
    rest: [],
  };
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "-h" || arg === "--help") return "help";
    if (arg === "-c") a.create = true;
    else if (arg === "-b") a.batch = true;
    else if (arg === "-D") a.remove = true;
    else if (arg === "-U") a.upgrade = true;
    else if (arg === "-H") {
      const value = args[++i];
      if (value !== "sha512" && value !== "sha512-pbkdf2") {
        return `Invalid hash algorithm "${value ?? ""}": use sha512 or sha512-pbkdf2`;
      }
      a.algorithm = value;
    } else if (arg === "--") {
      i++;
      break;
    } else if (arg.startsWith("-") && arg !== "-") return `Unknown option '${arg}'`;
    else break;
  }
  a.rest = args.slice(i);
  if (a.create && a.remove) return "-c and -D cannot be used together";
  if (a.upgrade && (a.create || a.remove || a.batch)) {
    return "-U cannot be used with -c, -D or -b";
  }
  if (a.remove && a.batch) return "-D and -b cannot be used together";
  const want = a.upgrade ? 1 : a.batch ? 3 : 2;
  if (a.rest.length !== want) return "Wrong number of arguments";
  return a;
}

function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function userOf(line: string): string | undefined {
  const colon = line.indexOf(":");
  return colon < 0 ? undefined : line.slice(0, colon);
}

/**
 * Run `mq passwd`.
 *
 * @example Create a file in batch mode
 * ```ts
 * import assert from "node:assert/strict";
 * import { runPasswd } from "./passwd.ts";
 * const files = new Map<string, Uint8Array>();
 * const out = { isTTY: false, write() {}, writeText() {} };
 * const host = {
 *   stdout: out, stderr: out,
 *   readFile: async (p: string) => files.get(p) ?? Promise.reject(new Error("ENOENT")),
 *   writeFile: async (p: string, d: Uint8Array) => void files.set(p, d),
 *   rename: async (a: string, b: string) => void (files.set(b, files.get(a)!), files.delete(a)),
 *   removeFile: async (p: string) => void files.delete(p),
 *   readPassword: async () => undefined,
 * };
 * assert.equal(await runPasswd(["-c", "-b", "pw", "alice", "secret"], host), 0);
 * assert.match(new TextDecoder().decode(files.get("pw")), /^alice:\$7\$101\$/);
 * ```
 *
 * @param args The arguments after `passwd`.
 * @param host Output, files and the password prompt.
 * @returns The exit code, see {@linkcode PasswdExit}.
 */
export async function runPasswd(args: readonly string[], host: PasswdHost): Promise<number> {
  const error = (message: string) => host.stderr.writeText(`Error: ${message}.\n`);
  const parsed = parse(args);
  if (parsed === "help") {
    host.stdout.writeText(`${USAGE}\n`);
    return PasswdExit.Success;
  }
  if (typeof parsed === "string") {
    error(parsed);
    host.stderr.writeText(`Use 'mq passwd --help' to see usage.\n`);
    return PasswdExit.Error;
  }
  const [file, user, batchPassword] = parsed.rest as [string, string | undefined, string?];
  if (user !== undefined) {
    if (user.includes(":")) {
      error("Username must not contain the ':' character");
      return PasswdExit.Error;
    }
    if (user === "" || new TextEncoder().encode(user).length > 65_535) {
      error("Invalid username");
      return PasswdExit.Error;
    }
  }

  let lines: string[] = [];
  if (!parsed.create) {
    try {
      lines = splitLines(new TextDecoder().decode(await host.readFile(file)));
    } catch (e) {
      error(`Unable to open file ${file} for reading: ${e instanceof Error ? e.message : e}`);
      return PasswdExit.Error;
    }
  }

  if (parsed.upgrade) {
    const out: string[] = [];
    for (const line of lines) {
      const name = userOf(line);
      const value = name === undefined ? "" : line.slice(name.length + 1);
      if (name === undefined || isHashed(value)) out.push(line);
      else out.push(`${name}:${await hashPassword(value, { algorithm: parsed.algorithm })}`);
    }
    return await save(host, file, out, error);
  }

  if (parsed.remove) {
    const kept = lines.filter((line) => userOf(line) !== user);
    if (kept.length === lines.length) {
      host.stderr.writeText(`Warning: User ${user} not found in password file.\n`);
      return PasswdExit.Error;
    }
    return await save(host, file, kept, error);
  }

  let password = batchPassword;
  if (password === undefined) {
    password = await host.readPassword("Password: ");
    if (password === undefined) {
      error("Unable to read the password");
      return PasswdExit.Error;
    }
    const again = await host.readPassword("Reenter password: ");
    if (again !== password) {
      error("Passwords do not match");
      return PasswdExit.Mismatch;
    }
  }
  if (password === "") {
    error("Empty password");
    return PasswdExit.Error;
  }
  const entry = `${user}:${await hashPassword(password, { algorithm: parsed.algorithm })}`;
  let replaced = false;
  const out = lines.map((line) => {
    if (userOf(line) !== user) return line;
    replaced = true;
    return entry;
  });
  if (!replaced) out.push(entry);
  return await save(host, file, out, error);
}

/** Write through a temporary file and a rename, so a failure never truncates the file. */
async function save(
  host: PasswdHost,
  file: string,
  lines: readonly string[],
  error: (message: string) => void,
): Promise<number> {
  const temp = `${file}.tmp`;
  const data = new TextEncoder().encode(lines.map((l) => `${l}\n`).join(""));
  try {
    await host.writeFile(temp, data);
    await host.rename(temp, file);
  } catch (e) {
    await host.removeFile(temp).catch(() => {});
    error(`Unable to open file ${file} for writing: ${e instanceof Error ? e.message : e}`);
    return PasswdExit.Error;
  }
  return PasswdExit.Success;
}
