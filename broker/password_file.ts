/**
 * mosquitto's `password_file` and `allow_anonymous`, as a {@linkcode BrokerOptions.authenticate}
 * hook: files written by `mosquitto_passwd` (`$7$` PBKDF2-SHA512 and `$6$` SHA-512) or
 * `mq passwd` work unchanged, and refusals are CONNACK 0x87 (return code 5), as mosquitto's.
 *
 * @module
 */

import { isHashed, verifyPassword } from "./password_hash.ts";
import { ConfigError, ConfigErrorKind, type ConfigWarning } from "./config.ts";
import type { Authenticate, BrokerOptions, BrokerPlugin } from "./types.ts";

/** A parsed password file: user name to hash field. */
export interface PasswordFile {
  /** The hash field (`$7$...`) of each user; the last line wins for a repeated user. */
  readonly users: ReadonlyMap<string, string>;
  /** Lines whose hash mosquitto would not accept either (those users can never log in). */
  readonly warnings: ConfigWarning[];
}

/**
 * Parse a mosquitto password file: `user:hash` lines; blank lines and `#` comments skipped.
 *
 * @example Read a line written by mosquitto_passwd
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePasswordFile } from "./password_file.ts";
 * const file = parsePasswordFile("# users\nalice:$7$101$c2FsdA==$aGFzaA==\n", "pw");
 * assert.equal(file.users.get("alice"), "$7$101$c2FsdA==$aGFzaA==");
 * ```
 *
 * @param text The file's content.
 * @param file The file's name, for errors.
 * @returns The users and their hashes.
 * @throws {ConfigError} When a line has no `:` or an empty user name.
 */
export function parsePasswordFile(text: string, file: string): PasswordFile {
  const users = new Map<string, string>();
  const warnings: ConfigWarning[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new ConfigError(
        `Cannot read password file: line is not "username:password hash"`,
        { file, line: i + 1, key: "password_file", kind: ConfigErrorKind.Syntax },
      );
    }
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!isHashed(hash)) {
      warnings.push({
        file,
        line: i + 1,
        key: "password_file",
        message: `Cannot use password of user "${user}": it is not a $6$ or $7$ hash`,
      });
    }
    users.set(user, hash);
  }
  return { users, warnings };
}

/** Options of {@linkcode fileAuthenticator}. */
export interface FileAuthenticatorOptions {
  /** Whether clients without a user name may connect (`allow_anonymous`). */
  allowAnonymous: boolean;
  /** The password file; without one, clients with a user name are treated as anonymous. */
  passwords?: PasswordFile;
}

/**
 * Build the authentication hook for `allow_anonymous` and `password_file`, with mosquitto
 * 2's rules: a client without a user name connects only when anonymous access is allowed;
 * with a password file, a client with a user name needs a matching entry (whatever
 * `allow_anonymous` says); without one, user names are ignored. Refusals are CONNACK 0x87
 * (MQTT 3.x return code 5). Returns `undefined` when everyone is accepted.
 *
 * @example Refuse anonymous clients
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileAuthenticator } from "./password_file.ts";
 * const authenticate = fileAuthenticator({ allowAnonymous: false })!;
 * const context = {
 *   clientId: "c",
 *   protocolVersion: 4 as const,
 *   step: 0,
 *   reauthenticate: false,
 *   remoteAddress: { transport: "tcp" as const, hostname: "127.0.0.1", port: 1 },
 * };
 * assert.equal(await authenticate(context), false);
 * ```
 *
 * @param options Anonymous access and the password file.
 * @returns The hook, or `undefined` when every client is accepted.
 */
export function fileAuthenticator(
  options: FileAuthenticatorOptions,
): BrokerOptions["authenticate"] {
  const { allowAnonymous, passwords } = options;
  if (allowAnonymous && passwords === undefined) return undefined;
  const authenticate: Authenticate = async (context) => {
    if (context.username === undefined) return allowAnonymous;
    if (passwords === undefined) return allowAnonymous;
    const hash = passwords.users.get(context.username);
    if (hash === undefined || context.password === undefined) return false;
    let password: string;
    try {
      password = new TextDecoder("utf-8", { fatal: true }).decode(context.password);
    } catch {
      return false;
    }
    return await verifyPassword(hash, password);
  };
  return authenticate;
}

/** Options of {@linkcode passwordFilePlugin}. */
export interface PasswordFilePluginOptions extends FileAuthenticatorOptions {
  /**
   * Read the password file again, for {@linkcode BrokerPlugin.reload} (SIGHUP). When it
   * throws, the plugin keeps the users it had.
   */
  load?: () => Promise<PasswordFile>;
}

/**
 * The `allow_anonymous` / `password_file` rules of {@linkcode fileAuthenticator} as a
 * broker plugin whose `reload()` re-reads the file: connected clients stay, new CONNECTs see
 * the new users.
 *
 * @example A plugin that reloads its users
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePasswordFile, passwordFilePlugin } from "./password_file.ts";
 * let text = "";
 * const plugin = passwordFilePlugin({
 *   allowAnonymous: false,
 *   passwords: parsePasswordFile(text, "passwd"),
 *   load: () => Promise.resolve(parsePasswordFile(text, "passwd")),
 * });
 * assert.equal(plugin.name, "password file");
 * text = "# no users yet\n";
 * await plugin.reload!();
 * ```
 *
 * @param options Anonymous access, the password file and how to read it again.
 * @returns The plugin.
 */
export function passwordFilePlugin(options: PasswordFilePluginOptions): BrokerPlugin {
  const { allowAnonymous, load } = options;
  let passwords = options.passwords;
  let authenticate = fileAuthenticator(
    passwords === undefined ? { allowAnonymous } : { allowAnonymous, passwords },
  );
  const plugin: BrokerPlugin = {
    name: "password file",
    authenticate: (context) => authenticate?.(context) ?? true,
  };
  if (load !== undefined) {
    plugin.reload = async () => {
      passwords = await load();
      authenticate = fileAuthenticator({ allowAnonymous, passwords });
    };
  }
  return plugin;
}
