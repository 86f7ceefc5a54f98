/**
 * The broker's configuration file: YAML (`mq broker -c mq.yaml`) or a mosquitto.conf,
 * detected by content, parsed into {@linkcode BrokerOptions} plus the settings the CLI
 * applies itself (password file, anonymous access, TLS files, log timestamps). Option names
 * are mosquitto's. Every error names the file, line and key ({@linkcode ConfigError});
 * options mosquitto has and mq does not are reported as warnings and skipped (errors with
 * `strict`), except those whose absence would weaken security, which are always errors.
 *
 * @module
 */

import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { Node as YamlNode } from "yaml";
import type { BrokerListenerOptions, BrokerOptions, LogLevel } from "./types.ts";

/** What went wrong in a configuration file. */
export const ConfigErrorKind = {
  /** The file is not valid YAML, or a mosquitto.conf line cannot be read. */
  Syntax: "syntax",
  /** The key is not an option of mq or mosquitto. */
  UnknownKey: "unknown-key",
  /** The value has the wrong type (a string for a number, ...). */
  Type: "type",
  /** The value is out of range or not one of the allowed words. */
  Range: "range",
  /** A second listener on a port already configured. */
  Duplicate: "duplicate",
  /** A mosquitto option mq does not support (an error only in strict mode or for security options). */
  Unsupported: "unsupported",
  /** `${VAR}` names an environment variable that is not set and has no default. */
  Variable: "variable",
  /** A required value is missing (a listener without a port, a certfile without a keyfile). */
  Missing: "missing",
} as const;

/** What went wrong in a configuration file. */
export type ConfigErrorKind = typeof ConfigErrorKind[keyof typeof ConfigErrorKind];

/** Options of {@linkcode ConfigError}. */
export interface ConfigErrorOptions {
  /** The configuration file, as given. */
  file: string;
  /** The 1-based line. */
  line: number;
  /** The option, by its mosquitto name; `undefined` for syntax errors. */
  key?: string;
  /** What went wrong. */
  kind: ConfigErrorKind;
}

/**
 * A configuration file is invalid: carries the file, the line, the key and the kind.
 *
 * @example Catch one
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError, parseBrokerConfig } from "./config.ts";
 * assert.throws(() => parseBrokerConfig("max_qos: 3\n", "mq.yaml"), (e: unknown) =>
 *   e instanceof ConfigError && e.line === 1 && e.key === "max_qos" && e.kind === "range");
 * ```
 */
export class ConfigError extends Error {
  /** The configuration file, as given. */
  readonly file: string;
  /** The 1-based line. */
  readonly line: number;
  /** The option, by its mosquitto name; `undefined` for syntax errors. */
  readonly key: string | undefined;
  /** What went wrong. */
  readonly kind: ConfigErrorKind;
  /**
   * Create a configuration error.
   *
   * @param message What went wrong, without the location.
   * @param options File, line, key and kind.
   */
  constructor(message: string, options: ConfigErrorOptions) {
    super(message);
    this.name = "ConfigError";
    this.file = options.file;
    this.line = options.line;
    this.key = options.key;
    this.kind = options.kind;
  }
}

/** A problem that did not stop parsing: an unsupported option, skipped. */
export interface ConfigWarning {
  /** The configuration file, as given. */
  file: string;
  /** The 1-based line. */
  line: number;
  /** The option, by its mosquitto name. */
  key: string;
  /** What was skipped and why. */
  message: string;
}

/** The syntax of a configuration file. */
export type ConfigFormat = "yaml" | "mosquitto";

/** A listener as configured, with TLS file paths still to be read. */
export interface ConfigListener {
  /** Address to bind: the configured one, else `"0.0.0.0"` (every IPv4 interface). */
  hostname: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Server certificate chain file (PEM): the listener serves TLS. */
  certfile?: string;
  /** Private key file (PEM) of `certfile`. */
  keyfile?: string;
  /** CA certificates file (PEM). */
  cafile?: string;
  /** `max_connections` of this listener (-1 or absent: no limit). */
  maxConnections?: number;
  /**
   * A unix socket path: mosquitto's `listener 0 /path/to/socket` (YAML: `port: 0` with a
   * `bind_address` containing `/`).
   */
  path?: string;
  /** `protocol`: `"websockets"` serves MQTT over WebSockets; absent is `"mqtt"`. */
  protocol?: "websockets";
  /** `websockets_headers_size`: largest HTTP request head accepted, in bytes. */
  websocketsHeadersSize?: number;
  /** `require_certificate`: clients must present a certificate `cafile` verifies. */
  requireCertificate?: boolean;
  /** `use_identity_as_username`. */
  useIdentityAsUsername?: boolean;
  /** `use_subject_as_username`. */
  useSubjectAsUsername?: boolean;
  /** `tls_version` as the minimum version. */
  tlsVersion?: "TLSv1.2" | "TLSv1.3";
  /**
   * `allow_anonymous` of this listener (a YAML listener's own key, or mosquitto's
   * `per_listener_settings true`); absent: the global setting.
   */
  allowAnonymous?: boolean;
  /** `password_file` of this listener (as `allowAnonymous`). */
  passwordFile?: string;
  /** `acl_file` of this listener (as `allowAnonymous`). */
  aclFile?: string;
  /** `mount_point`: a prefix for every topic of this listener's clients. */
  mountPoint?: string;
  /** `max_qos` set in this listener's section. */
  maxQos?: 0 | 1 | 2;
  /** `protocol_versions` (mq only): the protocol levels this listener accepts. */
  protocolVersions?: (3 | 4 | 5)[];
  /** The line that configured it. */
  line: number;
}

/** A parsed configuration file. */
export interface BrokerConfig {
  /** The syntax the file was read as. */
  format: ConfigFormat;
  /**
   * The broker options the file sets: limits, log types and, when the file configures any,
   * `listeners` (without TLS: see {@linkcode BrokerConfig.listeners}).
   */
  options: BrokerOptions;
  /** The configured listeners; empty when the file configures none. */
  listeners: ConfigListener[];
  /**
   * Whether clients without a user name may connect: `allow_anonymous`, which defaults to
   * true only when no listener is configured (mosquitto 2).
   */
  allowAnonymous: boolean;
  /** Whether `allow_anonymous` was set explicitly. */
  allowAnonymousSet: boolean;
  /** The `password_file`, if any (a path relative to the working directory, as in mosquitto). */
  passwordFile?: string;
  /** The `acl_file`, if any (a path relative to the working directory). */
  aclFile?: string;
  /**
   * With `persistence true`: the store file (`persistence_location` joined with
   * `persistence_file`, default `mq.db`) and `persistence_sync`.
   */
  persistence?: { file: string; sync: "normal" | "full" };
  /** Whether log lines start with a timestamp (`log_timestamp`). Default true. */
  logTimestamp: boolean;
  /** Unsupported options that were skipped. */
  warnings: ConfigWarning[];
}

/** Options of {@linkcode parseBrokerConfig}. */
export interface ParseBrokerConfigOptions {
  /** Environment variables for `${VAR}` in YAML files. Default: none. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Refuse unsupported options instead of warning. Default false. */
  strict?: boolean;
  /** Force the syntax instead of detecting it. */
  format?: ConfigFormat;
}

/** The log types of mosquitto's `log_type` that mq has. */
const LOG_TYPES: readonly LogLevel[] = ["error", "warning", "notice", "information", "debug"];
const MAX_PACKET_SIZE = 268_435_455;
const NEVER = 0xffff_ffff;

/** One `key value` of either syntax, with where it was. */
interface Entry {
  key: string;
  value: unknown;
  line: number;
  /** The value is text to convert (mosquitto.conf, or a YAML string after `${VAR}`). */
  text: boolean;
}

/** A listener being built. */
interface PendingListener {
  hostname?: string;
  port?: number;
  certfile?: string;
  keyfile?: string;
  cafile?: string;
  maxConnections?: number;
  protocol?: "mqtt" | "websockets";
  websocketsHeadersSize?: number;
  requireCertificate?: boolean;
  useIdentityAsUsername?: boolean;
  useSubjectAsUsername?: boolean;
  tlsVersion?: "TLSv1.2" | "TLSv1.3";
  allowAnonymous?: boolean;
  passwordFile?: string;
  aclFile?: string;
  mountPoint?: string;
  maxQos?: 0 | 1 | 2;
  protocolVersions?: (3 | 4 | 5)[];
  line: number;
  touched: boolean;
}

class Parser {
  readonly file: string;
  readonly strict: boolean;
  readonly options: BrokerOptions = {};
  readonly listeners: PendingListener[] = [];
  readonly defaultListener: PendingListener = { line: 0, touched: false };
  readonly warnings: ConfigWarning[] = [];
  logTypes: Set<LogLevel> | undefined;
  allowAnonymous: boolean | undefined;
  passwordFile: string | undefined;
  aclFile: string | undefined;
  logTimestamp = true;
  persistence = false;
  persistenceLocation: string | undefined;
  persistenceFile: string | undefined;
  persistenceSync: "normal" | "full" = "normal";
  /** `per_listener_settings true`: security options belong to the current listener. */
  perListener = false;
  /** Reading the keys of a YAML listener mapping, where security options are its own. */
  inListener = false;

  constructor(file: string, strict: boolean) {
    this.file = file;
    this.strict = strict;
  }

  error(entry: Pick<Entry, "key" | "line">, kind: ConfigErrorKind, message: string): ConfigError {
    return new ConfigError(message, { file: this.file, line: entry.line, key: entry.key, kind });
  }

  unsupported(entry: Entry, why = "it is not supported by mq"): void {
    const message = `Cannot apply option "${entry.key}": ${why}, skipped`;
    if (this.strict) {
      throw this.error(
        entry,
        ConfigErrorKind.Unsupported,
        `Cannot apply option "${entry.key}": ${why}`,
      );
    }
    this.warnings.push({ file: this.file, line: entry.line, key: entry.key, message });
  }

  string(entry: Entry): string {
    const v = entry.value;
    if (typeof v === "string" && v !== "") return v;
    if (typeof v === "string") {
      throw this.error(
        entry,
        ConfigErrorKind.Missing,
        `Cannot read option "${entry.key}": value is empty`,
      );
    }
    throw this.error(
      entry,
      ConfigErrorKind.Type,
      `Cannot read option "${entry.key}": expected a string, got ${describe(v)}`,
    );
  }

  boolean(entry: Entry): boolean {
    const v = entry.value;
    if (typeof v === "boolean") return v;
    if (entry.text && typeof v === "string") {
      if (v === "true" || v === "1") return true;
      if (v === "false" || v === "0") return false;
    }
    throw this.error(
      entry,
      ConfigErrorKind.Type,
      `Cannot read option "${entry.key}": expected true or false, got ${describe(v)}`,
    );
  }

  integer(entry: Entry, min: number, max: number): number {
    let v = entry.value;
    if (entry.text && typeof v === "string" && /^-?\d+$/.test(v.trim())) v = Number(v.trim());
    if (typeof v !== "number" || !Number.isInteger(v)) {
      throw this.error(
        entry,
        ConfigErrorKind.Type,
        `Cannot read option "${entry.key}": expected an integer, got ${describe(entry.value)}`,
      );
    }
    if (v < min || v > max) {
      throw this.error(
        entry,
        ConfigErrorKind.Range,
        `Cannot read option "${entry.key}": ${v} is not in ${min}..${max}`,
      );
    }
    return v;
  }

  duration(entry: Entry): number {
    const v = entry.value;
    if (typeof v === "number" && !entry.text) return this.integer(entry, 0, NEVER);
    if (typeof v !== "string") {
      throw this.error(
        entry,
        ConfigErrorKind.Type,
        `Cannot read option "${entry.key}": expected a duration such as "2d", got ${describe(v)}`,
      );
    }
    const seconds = parseDuration(v.trim());
    if (seconds === undefined) {
      throw this.error(
        entry,
        ConfigErrorKind.Range,
        `Cannot read option "${entry.key}": "${v}" is not a duration (a number followed by h, d, w, m or y)`,
      );
    }
    if (seconds > NEVER) {
      throw this.error(
        entry,
        ConfigErrorKind.Range,
        `Cannot read option "${entry.key}": "${v}" exceeds ${NEVER} seconds`,
      );
    }
    return seconds;
  }

  /** Apply a global (not listener-scoped) option. */
  global(entry: Entry): void {
    const o = this.options;
    switch (entry.key) {
      case "max_inflight_messages": {
        const n = this.integer(entry, 0, 65_535);
        o.maxInflightMessages = n === 0 ? 65_535 : n; // mosquitto: 0 is no limit
        return;
      }
      case "max_queued_messages":
        o.maxQueuedMessages = this.integer(entry, 0, Number.MAX_SAFE_INTEGER);
        return;
      case "max_queued_bytes":
        o.maxQueuedBytes = this.integer(entry, 0, Number.MAX_SAFE_INTEGER);
        return;
      case "queue_qos0_messages":
        o.queueQos0Messages = this.boolean(entry);
        return;
      case "back_pressure_timeout":
        o.backPressureTimeout = this.integer(entry, 0, 0xffff_ffff);
        return;
      case "allow_duplicate_messages":
        o.allowDuplicateMessages = this.boolean(entry);
        return;
      case "max_packet_size": {
        const n = this.integer(entry, 0, MAX_PACKET_SIZE);
        if (n !== 0 && n < 20) {
          throw this.error(
            entry,
            ConfigErrorKind.Range,
            `Cannot read option "max_packet_size": ${n} is below 20`,
          );
        }
        if (n === 0) delete o.maxPacketSize;
        else o.maxPacketSize = n;
        return;
      }
      case "max_topic_length":
        o.maxTopicLength = this.integer(entry, 1, 65_535);
        return;
      case "max_topic_levels":
        o.maxTopicLevels = this.integer(entry, 1, 65_535);
        return;
      case "max_subscriptions_per_client":
        o.maxSubscriptionsPerClient = this.integer(entry, 0, Number.MAX_SAFE_INTEGER);
        return;
      case "max_auth_failures":
        o.maxAuthFailures = this.integer(entry, 0, 0xffff_ffff);
        return;
      case "auth_failure_window":
        o.authFailureWindow = this.integer(entry, 1, 0xffff_ffff);
        return;
      case "max_client_id_length":
        o.maxClientIdLength = this.integer(entry, 1, 65_535);
        return;
      case "max_keepalive":
        o.maxKeepalive = this.integer(entry, 0, 65_535);
        return;
      case "max_topic_alias":
        o.maxTopicAlias = this.integer(entry, 0, 65_535);
        return;
      case "max_qos":
        o.maxQos = this.integer(entry, 0, 2) as 0 | 1 | 2;
        return;
      case "retain_available":
        o.retainAvailable = this.boolean(entry);
        return;
      case "persistent_client_expiration":
        o.persistentClientExpiration = this.duration(entry);
        return;
      case "sys_interval":
        o.sysInterval = this.integer(entry, 0, NEVER);
        return;
      case "connect_timeout":
        o.connectTimeout = this.integer(entry, 0, 65_535);
        return;
      case "allow_zero_length_clientid":
        o.allowZeroLengthClientId = this.boolean(entry);
        return;
      case "auto_id_prefix":
        o.autoIdPrefix = this.string(entry);
        return;
      case "response_information":
        o.responseInformation = this.string(entry);
        return;
      case "allow_anonymous":
        this.allowAnonymous = this.boolean(entry);
        return;
      case "acl_file":
        this.aclFile = this.string(entry);
        return;
      case "password_file":
        this.passwordFile = this.string(entry);
        return;
      case "log_timestamp":
        this.logTimestamp = this.boolean(entry);
        return;
      case "persistence":
        this.persistence = this.boolean(entry);
        return;
      case "persistence_location":
        this.persistenceLocation = this.string(entry);
        return;
      case "persistence_file":
        this.persistenceFile = this.string(entry);
        return;
      case "persistence_sync": {
        const sync = this.string(entry);
        if (sync !== "normal" && sync !== "full") {
          throw this.error(
            entry,
            ConfigErrorKind.Range,
            `Cannot apply option "persistence_sync": "${sync}" is not "normal" or "full"`,
          );
        }
        this.persistenceSync = sync;
        return;
      }
      case "autosave_interval":
      case "autosave_on_changes":
        // Accepted for compatibility: mq commits every change as it happens.
        this.integer(entry, 0, 0xffff_ffff);
        return;
      case "log_type":
        this.logType(entry);
        return;
      case "log_dest": {
        const dest = this.string(entry);
        if (dest.split(/\s+/)[0] !== "stderr") {
          this.unsupported(entry, `log destination "${dest}" is not supported (mq logs to stderr)`);
        }
        return;
      }
      case "per_listener_settings":
        this.perListener = this.boolean(entry);
        return;
      case "port":
        this.defaultListener.port = this.integer(entry, 0, 65_535);
        this.defaultListener.line ||= entry.line;
        this.defaultListener.touched = true;
        return;
    }
    if (SECURITY_OPTIONS.has(entry.key)) {
      if (
        entry.key === "use_identity_as_username" || entry.key === "use_subject_as_username" ||
        entry.key === "require_certificate"
      ) {
        if (!this.boolean(entry)) return;
      }
      throw this.error(
        entry,
        ConfigErrorKind.Unsupported,
        `Cannot apply option "${entry.key}": it is not supported by mq and skipping it would weaken security`,
      );
    }
    if (UNSUPPORTED.has(entry.key) || /^(plugin_opt|auth_opt)_/.test(entry.key)) {
      this.unsupported(entry);
      return;
    }
    throw this.error(
      entry,
      ConfigErrorKind.UnknownKey,
      `Cannot read option "${entry.key}": unknown option`,
    );
  }

  logType(entry: Entry): void {
    const values = Array.isArray(entry.value) ? entry.value : [entry.value];
    this.logTypes ??= new Set();
    for (const v of values) {
      const word = this.string({ ...entry, value: v });
      if (word === "all") { for (const t of LOG_TYPES) this.logTypes.add(t); }
      else if (word === "none") this.logTypes.clear();
      else if ((LOG_TYPES as readonly string[]).includes(word)) this.logTypes.add(word as LogLevel);
      else if (word === "subscribe" || word === "unsubscribe" || word === "websockets") {
        this.unsupported(entry, `log type "${word}" is not supported`);
      } else {
        throw this.error(
          entry,
          ConfigErrorKind.Range,
          `Cannot read option "log_type": unknown log type "${word}"`,
        );
      }
    }
  }

  /** Apply a listener-scoped option to `listener`; false when the key is not one. */
  listenerOption(listener: PendingListener, entry: Entry): boolean {
    switch (entry.key) {
      case "bind_address":
        listener.hostname = this.string(entry);
        break;
      case "certfile":
        listener.certfile = this.string(entry);
        break;
      case "keyfile":
        listener.keyfile = this.string(entry);
        break;
      case "cafile":
        listener.cafile = this.string(entry);
        break;
      case "allow_anonymous":
      case "password_file":
      case "acl_file":
        // Before any listener they are the defaults of listeners without their own.
        if (!this.inListener && (!this.perListener || listener === this.defaultListener)) {
          return false;
        }
        if (entry.key === "allow_anonymous") listener.allowAnonymous = this.boolean(entry);
        else if (entry.key === "password_file") listener.passwordFile = this.string(entry);
        else listener.aclFile = this.string(entry);
        break;
      case "mount_point":
        listener.mountPoint = this.string(entry);
        break;
      case "protocol_versions": {
        // mq only: a YAML list [4, 5] or a line "4 5" (levels: 3 = 3.1, 4 = 3.1.1, 5 = 5.0)
        const raw = entry.value;
        const words = Array.isArray(raw) ? raw.map(String) : this.string(entry).split(/[\s,]+/);
        const levels = words.filter((w) => w !== "").map((w) => {
          if (w !== "3" && w !== "4" && w !== "5") {
            throw this.error(
              entry,
              ConfigErrorKind.Range,
              `Cannot apply option "protocol_versions": "${w}" is not 3, 4 or 5`,
            );
          }
          return Number(w) as 3 | 4 | 5;
        });
        if (levels.length === 0) {
          throw this.error(
            entry,
            ConfigErrorKind.Missing,
            `Cannot read option "protocol_versions": value is empty`,
          );
        }
        listener.protocolVersions = levels;
        break;
      }
      case "max_qos":
        // Inside a listener section it is that listener's; before any, the broker's.
        if (!this.inListener && listener === this.defaultListener) return false;
        listener.maxQos = this.integer(entry, 0, 2) as 0 | 1 | 2;
        break;
      case "require_certificate":
        listener.requireCertificate = this.boolean(entry);
        break;
      case "use_identity_as_username":
        listener.useIdentityAsUsername = this.boolean(entry);
        break;
      case "use_subject_as_username":
        listener.useSubjectAsUsername = this.boolean(entry);
        break;
      case "tls_version": {
        const version = this.string(entry);
        if (version === "tlsv1.3") listener.tlsVersion = "TLSv1.3";
        else if (version === "tlsv1.2") listener.tlsVersion = "TLSv1.2";
        else if (version === "tlsv1.1" || version === "tlsv1") {
          // Older versions are not negotiated at all: TLS 1.2 is the floor anyway.
          this.unsupported(entry, `"${version}" is below mq's minimum, TLS 1.2`);
          return true;
        } else {
          throw this.error(
            entry,
            ConfigErrorKind.Range,
            `Cannot apply option "tls_version": "${version}" is not tlsv1.3, tlsv1.2 or tlsv1.1`,
          );
        }
        break;
      }
      case "max_connections": {
        // mosquitto: -1 (the default) is no limit
        const n = this.integer(entry, -1, Number.MAX_SAFE_INTEGER);
        if (n > 0) listener.maxConnections = n;
        else delete listener.maxConnections;
        break;
      }
      case "protocol": {
        const protocol = this.string(entry);
        if (protocol !== "mqtt" && protocol !== "websockets") {
          throw this.error(
            entry,
            ConfigErrorKind.Range,
            `Cannot apply option "protocol": "${protocol}" is not "mqtt" or "websockets"`,
          );
        }
        listener.protocol = protocol;
        break;
      }
      case "websockets_headers_size":
        listener.websocketsHeadersSize = this.integer(entry, 512, 1_048_576);
        break;
      default:
        if (LISTENER_SECURITY_OPTIONS.has(entry.key)) {
          if (entry.key === "require_certificate" || entry.key.startsWith("use_")) {
            if (!this.boolean(entry)) return true;
          }
          throw this.error(
            entry,
            ConfigErrorKind.Unsupported,
            `Cannot apply option "${entry.key}": it is not supported by mq and skipping it would weaken security`,
          );
        }
        if (LISTENER_UNSUPPORTED.has(entry.key)) {
          this.unsupported(entry);
          return true;
        }
        return false;
    }
    listener.touched = true;
    return true;
  }

  addListener(entry: Entry, port: number, hostname: string | undefined): PendingListener {
    const listener: PendingListener = { port, line: entry.line, touched: true };
    if (hostname !== undefined) listener.hostname = hostname;
    this.listeners.push(listener);
    return listener;
  }

  finish(format: ConfigFormat): BrokerConfig {
    const all = [...this.listeners];
    if (this.defaultListener.touched) {
      all.unshift({ ...this.defaultListener, port: this.defaultListener.port ?? 1883 });
    }
    const listeners: ConfigListener[] = [];
    for (const l of all) {
      const out: ConfigListener = {
        hostname: l.hostname ?? "0.0.0.0",
        port: l.port!,
        line: l.line,
      };
      if (l.certfile !== undefined) out.certfile = l.certfile;
      if (l.keyfile !== undefined) out.keyfile = l.keyfile;
      if (l.cafile !== undefined) out.cafile = l.cafile;
      if (l.maxConnections !== undefined) out.maxConnections = l.maxConnections;
      if (out.port === 0 && out.hostname.includes("/")) out.path = out.hostname;
      if (l.protocol === "websockets") out.protocol = "websockets";
      if (l.websocketsHeadersSize !== undefined) {
        out.websocketsHeadersSize = l.websocketsHeadersSize;
      }
      if (l.requireCertificate === true) out.requireCertificate = true;
      if (l.useIdentityAsUsername === true) out.useIdentityAsUsername = true;
      if (l.useSubjectAsUsername === true) out.useSubjectAsUsername = true;
      if (l.tlsVersion !== undefined) out.tlsVersion = l.tlsVersion;
      if (l.allowAnonymous !== undefined) out.allowAnonymous = l.allowAnonymous;
      if (l.passwordFile !== undefined) out.passwordFile = l.passwordFile;
      if (l.aclFile !== undefined) out.aclFile = l.aclFile;
      if (l.mountPoint !== undefined) out.mountPoint = l.mountPoint;
      if (l.maxQos !== undefined) out.maxQos = l.maxQos;
      if (l.protocolVersions !== undefined) out.protocolVersions = l.protocolVersions;
      const identity = out.useIdentityAsUsername === true || out.useSubjectAsUsername === true;
      if ((out.requireCertificate === true || identity) && out.certfile === undefined) {
        throw this.error(
          { key: identity ? "use_identity_as_username" : "require_certificate", line: l.line },
          ConfigErrorKind.Missing,
          `Cannot configure listener on port ${out.port}: client certificates need "certfile" and "keyfile"`,
        );
      }
      if (out.requireCertificate === true && out.cafile === undefined) {
        throw this.error(
          { key: "require_certificate", line: l.line },
          ConfigErrorKind.Missing,
          `Cannot configure listener on port ${out.port}: "require_certificate" needs "cafile" to verify clients`,
        );
      }
      if ((out.certfile === undefined) !== (out.keyfile === undefined)) {
        const key = out.certfile === undefined ? "keyfile" : "certfile";
        throw this.error(
          { key, line: l.line },
          ConfigErrorKind.Missing,
          `Cannot configure listener on port ${out.port}: "${key}" needs ${
            key === "keyfile" ? '"certfile"' : '"keyfile"'
          } too`,
        );
      }
      if (out.port !== 0) {
        const clash = listeners.find((p) =>
          p.port === out.port &&
          (p.hostname === out.hostname || isWildcard(p.hostname) || isWildcard(out.hostname))
        );
        if (clash !== undefined) {
          throw this.error(
            { key: "listener", line: l.line },
            ConfigErrorKind.Duplicate,
            `Cannot configure listener on port ${out.port}: port already configured on line ${clash.line}`,
          );
        }
      }
      listeners.push(out);
    }
    if (this.logTypes !== undefined) {
      this.options.logTypes = LOG_TYPES.filter((t) => this.logTypes!.has(t));
    }
    if (listeners.length > 0) {
      this.options.listeners = listeners.map((l): BrokerListenerOptions => {
        const out: BrokerListenerOptions = { hostname: l.hostname, port: l.port };
        if (l.path !== undefined) out.path = l.path;
        if (l.maxConnections !== undefined) out.maxConnections = l.maxConnections;
        if (l.mountPoint !== undefined) out.mountPoint = l.mountPoint;
        if (l.maxQos !== undefined) out.maxQos = l.maxQos;
        if (l.protocolVersions !== undefined) out.protocolVersions = l.protocolVersions;
        if (l.protocol !== undefined) out.protocol = l.protocol;
        if (l.websocketsHeadersSize !== undefined) {
          out.websocket = { maxHeaderBytes: l.websocketsHeadersSize };
        }
        return out;
      });
    }
    const config: BrokerConfig = {
      format,
      options: this.options,
      listeners,
      allowAnonymous: this.allowAnonymous ?? listeners.length === 0,
      allowAnonymousSet: this.allowAnonymous !== undefined,
      logTimestamp: this.logTimestamp,
      warnings: this.warnings,
    };
    if (this.passwordFile !== undefined) config.passwordFile = this.passwordFile;
    if (this.aclFile !== undefined) config.aclFile = this.aclFile;
    if (this.persistence) {
      const file = this.persistenceFile ?? "mq.db";
      const location = this.persistenceLocation;
      config.persistence = {
        // persistence_location is a directory (mosquitto's ends it with "/").
        file: location === undefined || file.startsWith("/")
          ? file
          : `${location.replace(/\/+$/, "")}/${file}`,
        sync: this.persistenceSync,
      };
    }
    return config;
  }
}

/** Security-relevant mosquitto options mq lacks: refusing beats silently opening access. */
const SECURITY_OPTIONS = new Set([
  "plugin",
  "auth_plugin",
  "psk_file",
  "psk_hint",
  "crlfile",
  "require_certificate",
  "use_identity_as_username",
  "use_subject_as_username",
]);
const LISTENER_SECURITY_OPTIONS = new Set([
  "psk_hint",
  "crlfile",
]);
/** Listener-scoped mosquitto options mq lacks, skipped with a warning. */
const LISTENER_UNSUPPORTED = new Set([
  "socket_domain",
  "bind_interface",
  "http_dir",
  "use_username_as_clientid",
  "ciphers",
  "ciphers_tls1.3",
  "capath",
  "dhparamfile",
  "tls_engine",
  "tls_engine_kpass_sha1",
  "tls_keyform",
]);
/** Global mosquitto options mq lacks, skipped with a warning. */
const UNSUPPORTED = new Set([
  ...LISTENER_UNSUPPORTED,
  "pid_file",
  "user",
  "connection_messages",
  "log_timestamp_format",
  "websockets_log_level",
  "max_inflight_bytes",
  "memory_limit",
  "message_size_limit",
  "upgrade_outgoing_qos",
  "set_tcp_nodelay",
  "check_retain_source",
  "clientid_prefixes",
  "include_dir",
  "log_facility",
  "retry_interval",
  "store_clean_interval",
  // bridges
  "connection",
  "address",
  "addresses",
  "topic",
  "cleansession",
  "keepalive_interval",
  "local_clientid",
  "local_username",
  "local_password",
  "remote_clientid",
  "remote_username",
  "remote_password",
  "notifications",
  "notifications_local_only",
  "notification_topic",
  "restart_timeout",
  "idle_timeout",
  "start_type",
  "threshold",
  "try_private",
  "round_robin",
  "local_cleansession",
  "bridge_attempt_unsubscribe",
  "bridge_bind_address",
  "bridge_cafile",
  "bridge_capath",
  "bridge_certfile",
  "bridge_keyfile",
  "bridge_identity",
  "bridge_psk",
  "bridge_insecure",
  "bridge_require_ocsp",
  "bridge_alpn",
  "bridge_tls_version",
  "bridge_protocol_version",
  "bridge_outgoing_retain",
  "bridge_max_packet_size",
]);

function isWildcard(hostname: string): boolean {
  return hostname === "0.0.0.0" || hostname === "::";
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (typeof value === "string") return `"${value}"`;
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `${typeof value} ${String(value)}`;
}

/**
 * Parse mosquitto's duration syntax: a number followed by `h` (hours), `d` (days), `w`
 * (weeks), `m` (months of 30 days) or `y` (years of 365 days).
 *
 * @example Two days
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDuration } from "./config.ts";
 * assert.equal(parseDuration("2d"), 172_800);
 * assert.equal(parseDuration("2x"), undefined);
 * ```
 *
 * @param text The duration.
 * @returns Seconds, or `undefined` when `text` is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)([hdwmy])$/.exec(text);
  if (match === null) return undefined;
  const unit = { h: 3600, d: 86_400, w: 604_800, m: 2_592_000, y: 31_536_000 }[match[2] as "h"];
  return Number(match[1]) * unit;
}

/**
 * Whether a configuration file is a mosquitto.conf rather than YAML: its first line that is
 * neither blank nor a comment looks like `key value` or a bare `key`, not `key:`.
 *
 * @example Tell them apart
 * ```ts
 * import assert from "node:assert/strict";
 * import { detectConfigFormat } from "./config.ts";
 * assert.equal(detectConfigFormat("# mine\nlistener 1883\n"), "mosquitto");
 * assert.equal(detectConfigFormat("listeners:\n  - port: 1883\n"), "yaml");
 * ```
 *
 * @param text The file's content.
 * @returns `"mosquitto"` or `"yaml"`.
 */
export function detectConfigFormat(text: string): ConfigFormat {
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (/^[a-z_][a-z0-9_.]*(\s+[^:\s].*|\s*)$/i.test(line) && !line.startsWith("---")) {
      return "mosquitto";
    }
    return "yaml";
  }
  return "yaml";
}

function substitute(
  value: string,
  env: Readonly<Record<string, string | undefined>>,
  fail: (name: string) => never,
): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (match, name: string | undefined, fallback: string | undefined) => {
      if (match === "$$") return "$";
      const v = env[name!];
      if (v !== undefined && v !== "") return v;
      if (fallback !== undefined) return fallback;
      if (v !== undefined) return v;
      return fail(name!);
    },
  );
}

function parseMosquitto(text: string, parser: Parser): void {
  let current: PendingListener | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const space = line.search(/\s/);
    const key = space < 0 ? line : line.slice(0, space);
    const rest = space < 0 ? "" : line.slice(space).trim();
    const entry: Entry = { key, value: rest, line: i + 1, text: true };
    if (key === "listener") {
      const [port, hostname, extra] = rest.split(/\s+/);
      if (extra !== undefined) {
        throw parser.error(
          entry,
          ConfigErrorKind.Syntax,
          `Cannot read option "listener": expected "listener port [address]"`,
        );
      }
      if (port === undefined || port === "") {
        throw parser.error(
          entry,
          ConfigErrorKind.Missing,
          `Cannot read option "listener": port is missing`,
        );
      }
      const n = parser.integer({ ...entry, value: port }, 0, 65_535);
      current = parser.addListener(entry, n, hostname);
      continue;
    }
    if (LISTENER_KEYS.has(key)) {
      const target = current ?? parser.defaultListener;
      if (current === undefined) target.line ||= entry.line;
      if (parser.listenerOption(target, entry)) continue;
    }
    parser.global(entry);
  }
}

const LISTENER_KEYS = new Set([
  "bind_address",
  "protocol_versions",
  "mount_point",
  "max_qos",
  "allow_anonymous",
  "password_file",
  "acl_file",
  "websockets_headers_size",
  "require_certificate",
  "use_identity_as_username",
  "use_subject_as_username",
  "tls_version",
  "max_connections",
  "certfile",
  "keyfile",
  "cafile",
  "protocol",
  ...LISTENER_SECURITY_OPTIONS,
  ...LISTENER_UNSUPPORTED,
]);

function parseYaml(
  text: string,
  parser: Parser,
  env: Readonly<Record<string, string | undefined>>,
): void {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  const problem = doc.errors[0];
  if (problem !== undefined) {
    const line = counter.linePos(problem.pos[0]).line;
    throw new ConfigError(`Cannot parse YAML: ${problem.message.split("\n")[0]}`, {
      file: parser.file,
      line,
      kind: ConfigErrorKind.Syntax,
    });
  }
  const lineOf = (node: unknown, fallback: number): number => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return range === undefined ? fallback : counter.linePos(range[0]).line;
  };
  // Turn a node into an Entry value: scalars with `${VAR}` substituted, lists of scalars.
  const entryOf = (key: string, node: unknown, line: number): Entry => {
    const at = lineOf(node, line);
    if (isScalar(node)) {
      if (typeof node.value === "string") {
        const fail = (name: string): never => {
          throw new ConfigError(
            `Cannot read option "${key}": environment variable "${name}" is not set`,
            { file: parser.file, line: at, key, kind: ConfigErrorKind.Variable },
          );
        };
        const value = substitute(node.value, env, fail);
        return { key, value, line: at, text: value !== node.value };
      }
      return { key, value: node.value, line: at, text: false };
    }
    if (isSeq(node)) {
      const items = node.items.map((item) => entryOf(key, item, at).value);
      return { key, value: items, line: at, text: false };
    }
    if (isMap(node)) return { key, value: {}, line: at, text: false };
    return { key, value: null, line: at, text: false };
  };
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return;
  if (!isMap(root)) {
    throw new ConfigError("Cannot read configuration: expected a mapping of options", {
      file: parser.file,
      line: lineOf(root, 1),
      kind: ConfigErrorKind.Type,
    });
  }
  const listenerFrom = (node: YamlNode | null, line: number, key: string): void => {
    const at = lineOf(node, line);
    if (isScalar(node) && !isMap(node)) {
      const entry = entryOf(key, node, at);
      parser.addListener(entry, parser.integer({ ...entry, key: "port" }, 0, 65_535), undefined);
      return;
    }
    if (!isMap(node)) {
      throw parser.error(
        { key, line: at },
        ConfigErrorKind.Type,
        `Cannot read option "${key}": expected a port or a mapping`,
      );
    }
    const portPair = node.items.find((p) => isScalar(p.key) && p.key.value === "port");
    if (portPair === undefined) {
      throw parser.error(
        { key: "port", line: at },
        ConfigErrorKind.Missing,
        `Cannot configure listener: "port" is missing`,
      );
    }
    const portEntry = entryOf("port", portPair.value, lineOf(portPair.key, at));
    const listener = parser.addListener(
      { ...portEntry, line: at },
      parser.integer(portEntry, 0, 65_535),
      undefined,
    );
    for (const pair of node.items) {
      const name = isScalar(pair.key) ? String(pair.key.value) : "";
      if (name === "port") continue;
      const entry = entryOf(name, pair.value, lineOf(pair.key, at));
      parser.inListener = true;
      const known = parser.listenerOption(listener, entry);
      parser.inListener = false;
      if (!known) {
        throw parser.error(
          entry,
          ConfigErrorKind.UnknownKey,
          `Cannot read option "${name}": unknown listener option`,
        );
      }
    }
  };
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : "";
    const line = lineOf(pair.key, 1);
    const value = pair.value as YamlNode | null;
    if (key === "listener") {
      listenerFrom(value, line, key);
    } else if (key === "listeners") {
      if (!isSeq(value)) {
        throw parser.error(
          { key, line: lineOf(value, line) },
          ConfigErrorKind.Type,
          `Cannot read option "listeners": expected a list`,
        );
      }
      for (const item of value.items) listenerFrom(item as YamlNode | null, line, key);
    } else if (
      LISTENER_KEYS.has(key) &&
      parser.listenerOption(parser.defaultListener, entryOf(key, value, line))
    ) {
      parser.defaultListener.line ||= line;
    } else {
      parser.global(entryOf(key, value, line));
    }
  }
}

/**
 * Parse a configuration file: YAML or a mosquitto.conf (detected by content), with
 * mosquitto's option names. `${VAR}` (and `${VAR:-default}`, `$$` for `$`) in YAML string
 * values is replaced from `options.env`.
 *
 * @example A YAML file
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseBrokerConfig } from "./config.ts";
 * const config = parseBrokerConfig(
 *   "listeners:\n  - port: ${PORT}\nmax_qos: 1\nallow_anonymous: true\n",
 *   "mq.yaml",
 *   { env: { PORT: "1884" } },
 * );
 * assert.deepEqual(config.options.listeners, [{ hostname: "0.0.0.0", port: 1884 }]);
 * assert.equal(config.options.maxQos, 1);
 * assert.equal(config.allowAnonymous, true);
 * ```
 *
 * @example A mosquitto.conf
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseBrokerConfig } from "./config.ts";
 * const config = parseBrokerConfig("listener 1883\npid_file /run/m.pid\n", "mosquitto.conf");
 * assert.equal(config.format, "mosquitto");
 * assert.equal(config.allowAnonymous, false);
 * assert.equal(config.warnings[0]?.line, 2);
 * ```
 *
 * @param text The file's content.
 * @param file The file's name, for errors and warnings.
 * @param options Environment, strictness and format.
 * @returns The configuration.
 * @throws {ConfigError} When the file is invalid.
 */
export function parseBrokerConfig(
  text: string,
  file: string,
  options: ParseBrokerConfigOptions = {},
): BrokerConfig {
  const parser = new Parser(file, options.strict ?? false);
  const format = options.format ?? detectConfigFormat(text);
  if (format === "mosquitto") parseMosquitto(text, parser);
  else parseYaml(text, parser, options.env ?? {});
  return parser.finish(format);
}
