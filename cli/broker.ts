/**
 * `mq broker`: run the broker from the command line, with mosquitto's flags, log lines and
 * exit codes. Runtime services (signals, standard error) come in through
 * {@linkcode BrokerCliHost}, a subset of {@linkcode CliHost}, since only `cli/main.ts` may
 * touch runtime globals.
 *
 * @module
 */

import { startBroker } from "../broker/broker.ts";
import { type BrokerConfig, ConfigError, parseBrokerConfig } from "../broker/config.ts";
import { AclFile, AclFileError, aclFilePlugin } from "../broker/acl_file.ts";
import { openSqliteStore, type SqliteStore, StoreError } from "../store/sqlite.ts";
import {
  parsePasswordFile,
  type PasswordFile,
  passwordFilePlugin,
  type PasswordFilePluginOptions,
} from "../broker/password_file.ts";
import type {
  Broker,
  BrokerListenerOptions,
  BrokerOptions,
  BrokerPlugin,
  LogLevel,
} from "../broker/types.ts";
import type { SocketAdapter, TlsOptions } from "../socket/types.ts";
import { VERSION } from "../version.ts";
import type { CliHost, CliOutput } from "./host.ts";

/** A signal `mq broker` stops on. */
export type StopSignal = "SIGINT" | "SIGTERM";

/**
 * What `mq broker` needs from the runtime: the part of {@linkcode CliHost} it uses (a
 * whole `CliHost` fits), plus a test hook.
 */
export interface BrokerCliHost {
  /**
   * Call `handler` when the process receives the signal.
   *
   * @returns A function that removes the handler.
   */
  onSignal: CliHost["onSignal"];
  /**
   * Standard error: a {@linkcode CliOutput}, or a function called with each line (kept for
   * embedding and tests). Default: `console.error`.
   */
  stderr?: CliOutput | ((line: string) => void);
  /** Read a whole file (`-c`, `password_file`, TLS files). Without it, `-c` is refused. */
  readFile?: CliHost["readFile"];
  /** Rename a file (`--recover` moves a broken store aside). Without it, `--recover` cannot. */
  rename?: CliHost["rename"];
  /** Environment variables for `${VAR}` in YAML configuration files. Default: none. */
  env?: CliHost["env"];
  /** The socket adapter to listen with. Default: the runtime's TCP adapter. */
  adapter?: SocketAdapter;
  /** The current memory use; its `heapUsed` is published as `$SYS/broker/heap/*`. */
  memoryUsage?: CliHost["memoryUsage"];
  /** Called once the broker is listening (for tests). */
  onListening?: (broker: Broker) => void;
}

const USAGE = `mq broker ${VERSION}

mq broker is an MQTT v5.0/v3.1.1/v3.1 broker.

Usage: mq broker [-c config_file] [-h] [-p [host:]port] [-v] [--strict] [--recover]

 -c : specify the broker config file: YAML (mq.yaml) or a mosquitto.conf.
 -h : display this help.
 -p : start the broker listening on the specified port, on the loopback interface
      unless a host is given (-p 0.0.0.0:1883 listens on every IPv4 interface).
      May be given several times; adds to (or replaces, for the same port) the
      listeners of the config file.
 -v : verbose mode - enable all logging types.
 --strict : refuse config options mq does not support instead of skipping them.
 --recover : with persistence, when the store file cannot be read, move it aside
      (renamed FILE.corrupt-TIME, never deleted) and start with an empty store.`;

/** Exit code for usage errors, `-h` and configuration errors, as mosquitto's. */
const EXIT_USAGE = 3;

function parseListener(value: string): BrokerListenerOptions | undefined {
  let hostname = "127.0.0.1";
  let port = value;
  const colon = value.lastIndexOf(":");
  if (colon >= 0) {
    hostname = value.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
    port = value.slice(colon + 1);
    if (hostname === "") return undefined;
  }
  if (!/^\d{1,5}$/.test(port)) return undefined;
  const n = Number(port);
  if (n < 1 || n > 65_535) return undefined;
  return { hostname, port: n };
}

/** A configuration problem to print as `Error: file:line: message`, exit 3. */
class LoadError extends Error {}

function location(error: ConfigError): string {
  return `${error.file}:${error.line}: ${error.message}`;
}

const decoder = new TextDecoder();

/** Everything `-c` contributes, with the files it names read. */
interface LoadedConfig {
  config: BrokerConfig;
  listeners: BrokerListenerOptions[];
  passwords?: PasswordFile;
  acl?: AclFile;
}

async function loadConfig(
  file: string,
  host: BrokerCliHost,
  strict: boolean,
  warn: (line: string) => void,
): Promise<LoadedConfig> {
  const readFile = host.readFile!;
  const read = async (path: string, what: string, at?: string): Promise<string> => {
    try {
      return decoder.decode(await readFile(path));
    } catch {
      throw new LoadError(`${at === undefined ? "" : `${at}: `}Unable to open ${what} ${path}.`);
    }
  };
  const text = await read(file, "config file");
  const config = parseBrokerConfig(text, file, { env: host.env ?? {}, strict });
  for (const w of config.warnings) warn(`Warning: ${w.file}:${w.line}: ${w.message}`);
  const listeners: BrokerListenerOptions[] = [];
  for (const l of config.listeners) {
    const listener: BrokerListenerOptions = { hostname: l.hostname, port: l.port };
    if (l.maxConnections !== undefined) listener.maxConnections = l.maxConnections;
    if (l.path !== undefined) listener.path = l.path;
    if (l.mountPoint !== undefined) listener.mountPoint = l.mountPoint;
    if (l.maxQos !== undefined) listener.maxQos = l.maxQos;
    if (l.protocolVersions !== undefined) listener.protocolVersions = l.protocolVersions;
    if (l.protocol !== undefined) listener.protocol = l.protocol;
    if (l.websocketsHeadersSize !== undefined) {
      listener.websocket = { maxHeaderBytes: l.websocketsHeadersSize };
    }
    if (l.useIdentityAsUsername === true) listener.useIdentityAsUsername = true;
    if (l.useSubjectAsUsername === true) listener.useSubjectAsUsername = true;
    if (l.certfile !== undefined && l.keyfile !== undefined) {
      const at = `${file}:${l.line}`;
      const { certfile, keyfile, cafile } = l;
      const loadTls = async (): Promise<TlsOptions> => {
        const tls: TlsOptions = {
          cert: await read(certfile, "certfile", at),
          key: await read(keyfile, "keyfile", at),
        };
        if (cafile !== undefined) tls.ca = await read(cafile, "cafile", at);
        if (l.requireCertificate === true) tls.requireCertificate = true;
        if (l.tlsVersion !== undefined) tls.minVersion = l.tlsVersion;
        return tls;
      };
      listener.tls = await loadTls();
      listener.loadTls = loadTls;
    }
    if (l.allowAnonymous !== undefined || l.passwordFile !== undefined || l.aclFile !== undefined) {
      // A listener with security settings of its own gets its own chain.
      const own: Security = { allowAnonymous: l.allowAnonymous ?? config.allowAnonymous };
      if (l.passwordFile !== undefined) {
        own.passwordFile = l.passwordFile;
        own.passwords = await readPasswordFile(l.passwordFile, host, warn);
      }
      if (l.aclFile !== undefined) {
        own.aclFile = l.aclFile;
        own.acl = await readAclFile(l.aclFile, host);
      }
      listener.plugins = securityPlugins(own, host, warn);
    }
    listeners.push(listener);
  }
  const loaded: LoadedConfig = { config, listeners };
  if (config.passwordFile !== undefined) {
    loaded.passwords = await readPasswordFile(config.passwordFile, host, warn);
  }
  if (config.aclFile !== undefined) loaded.acl = await readAclFile(config.aclFile, host);
  return loaded;
}

/**
 * Open the persistence store; with `recover`, a store that cannot be read is moved aside
 * (never deleted) and an empty one takes its place.
 */
async function openStore(
  persistence: { file: string; sync: "normal" | "full" },
  host: BrokerCliHost,
  log: (line: string) => void,
  recover: boolean,
): Promise<SqliteStore> {
  const { file, sync } = persistence;
  const open = async () => {
    const store = await openSqliteStore(file, { sync });
    // Read it now, so a corrupt store is found here and not in the broker.
    try {
      store.check();
    } catch (error) {
      store.close();
      throw error;
    }
    return store;
  };
  try {
    return await open();
  } catch (error) {
    if (!(error instanceof StoreError) || /node:sqlite/.test(error.message)) throw error;
    if (!recover) {
      throw new Error(
        `${error.message}. Start with --recover to move it aside and begin with an empty store.`,
      );
    }
    if (host.rename === undefined) throw error;
    const aside = `${file}.corrupt-${Math.floor(Date.now() / 1000)}`;
    await host.rename(file, aside);
    for (const suffix of ["-wal", "-shm"]) {
      await host.rename(file + suffix, aside + suffix).catch(() => {});
    }
    log(`Warning: ${error.message}; moved it to ${aside} and starting with an empty store.`);
    return await open();
  }
}

/** The security settings of the broker or of one listener, with their files read. */
interface Security {
  allowAnonymous: boolean;
  passwordFile?: string;
  passwords?: PasswordFile;
  aclFile?: string;
  acl?: AclFile;
}

/** The plugins for `allow_anonymous`, `password_file` and `acl_file`, reloaded on SIGHUP. */
function securityPlugins(
  security: Security,
  host: BrokerCliHost,
  warn: (line: string) => void,
): BrokerPlugin[] {
  const plugins: BrokerPlugin[] = [];
  const { allowAnonymous, passwords, passwordFile, acl, aclFile } = security;
  if (!allowAnonymous || passwords !== undefined) {
    const options: PasswordFilePluginOptions = { allowAnonymous };
    if (passwords !== undefined) options.passwords = passwords;
    if (passwordFile !== undefined) {
      options.load = () => readPasswordFile(passwordFile, host, warn);
    }
    plugins.push(passwordFilePlugin(options));
  }
  if (acl !== undefined && aclFile !== undefined) {
    plugins.push(aclFilePlugin({ acl, load: () => readAclFile(aclFile, host) }));
  }
  return plugins;
}

/** Read and parse an ACL file (start-up and SIGHUP). */
async function readAclFile(path: string, host: BrokerCliHost): Promise<AclFile> {
  let text: string;
  try {
    text = decoder.decode(await host.readFile!(path));
  } catch {
    throw new LoadError(`Unable to open acl_file ${path}.`);
  }
  try {
    return AclFile.parse(text, path);
  } catch (error) {
    if (error instanceof AclFileError) {
      throw new LoadError(`${error.file}:${error.line}: ${error.message}`);
    }
    throw error;
  }
}

/** Read and parse a password file, passing its warnings on (start-up and SIGHUP). */
async function readPasswordFile(
  path: string,
  host: BrokerCliHost,
  warn: (line: string) => void,
): Promise<PasswordFile> {
  let text: string;
  try {
    text = decoder.decode(await host.readFile!(path));
  } catch {
    throw new LoadError(`Unable to open password file ${path}.`);
  }
  const passwords = parsePasswordFile(text, path);
  for (const w of passwords.warnings) warn(`Warning: ${w.file}:${w.line}: ${w.message}`);
  return passwords;
}

/**
 * Run `mq broker` until SIGINT or SIGTERM.
 *
 * @example Print the help
 * ```ts
 * import assert from "node:assert/strict";
 * import { runBroker } from "./broker.ts";
 * const lines: string[] = [];
 * const code = await runBroker(["-h"], { onSignal: () => () => {}, stderr: (l) => void lines.push(l) });
 * assert.equal(code, 3);
 * assert.match(lines.join("\n"), /Usage: mq broker/);
 * ```
 *
 * @param args The arguments after `broker`.
 * @param host Signals, files and output.
 * @returns The exit code: 0 after a clean stop, 1 when the broker cannot start, 3 for usage
 *   and configuration errors (as mosquitto).
 */
export async function runBroker(args: readonly string[], host: BrokerCliHost): Promise<number> {
  const out = host.stderr;
  const stderr = out === undefined
    ? (line: string) => console.error(line)
    : typeof out === "function"
    ? out
    : (line: string) => out.writeText(`${line}\n`);
  const portListeners: BrokerListenerOptions[] = [];
  let verbose = false;
  let strict = false;
  let recover = false;
  let configFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    switch (arg) {
      case "-h":
      case "--help":
        stderr(USAGE);
        return EXIT_USAGE;
      case "-v":
      case "--verbose":
        verbose = true;
        break;
      case "--strict":
        strict = true;
        break;
      case "--recover":
        recover = true;
        break;
      case "-c":
      case "--config-file":
        configFile = args[++i];
        if (configFile === undefined) {
          stderr("Error: -c argument given, but no config file specified.");
          return EXIT_USAGE;
        }
        break;
      case "-p":
      case "--port": {
        const value = args[++i];
        const listener = value === undefined ? undefined : parseListener(value);
        if (listener === undefined) {
          stderr(`Error: Invalid port specified (${value ?? "none"}).`);
          return EXIT_USAGE;
        }
        portListeners.push(listener);
        break;
      }
      default:
        stderr(`Error: Unknown option '${arg}'.`);
        stderr(USAGE);
        return EXIT_USAGE;
    }
  }
  let loaded: LoadedConfig | undefined;
  if (configFile !== undefined) {
    if (host.readFile === undefined) {
      stderr("Error: -c is not supported yet by this host: it cannot read files.");
      return 1;
    }
    try {
      loaded = await loadConfig(configFile, host, strict, stderr);
    } catch (error) {
      if (error instanceof ConfigError) stderr(`Error: ${location(error)}`);
      else if (error instanceof LoadError) stderr(`Error: ${error.message}`);
      else throw error;
      return EXIT_USAGE;
    }
  }
  const config = loaded?.config;
  const timestamps = config?.logTimestamp ?? true;
  const log = (message: string) =>
    stderr(timestamps ? `${Math.floor(Date.now() / 1000)}: ${message}` : message);
  const logTypes: LogLevel[] = verbose
    ? ["error", "warning", "notice", "information", "debug"]
    : config?.options.logTypes ?? ["error", "warning", "notice", "information"];
  // -p adds listeners; one on a port the config file already has replaces it.
  const listeners = (loaded?.listeners ?? []).filter((l) =>
    !portListeners.some((p) => p.port === l.port)
  );
  listeners.push(...portListeners);
  const configured = (loaded?.listeners.length ?? 0) > 0;
  if (listeners.length === 0) listeners.push({ hostname: "127.0.0.1", port: 1883 });
  log(configFile === undefined ? "Using default config." : `Config loaded from ${configFile}.`);
  if (!configured && listeners.every((l) => isLoopback(l.hostname))) {
    log(
      "Starting in local only mode. Connections will only be possible from clients running on this machine.",
    );
    log(
      `To accept remote connections, listen on every interface: mq broker -p 0.0.0.0:${
        listeners[0]!.port
      }`,
    );
  }
  const allowAnonymous = config?.allowAnonymous ?? true;
  const passwords = loaded?.passwords;
  if (!allowAnonymous) {
    log(
      `Warning: anonymous clients are refused: ${
        config?.allowAnonymousSet ? "allow_anonymous is false" : "a listener is configured"
      }${
        passwords === undefined
          ? " and no password_file is set, so no client can connect"
          : `; users of ${config?.passwordFile} can log in`
      } (set allow_anonymous true to allow them).`,
    );
  } else if (configured) {
    log(
      `Warning: anonymous clients are allowed on every listener (allow_anonymous true)${
        passwords === undefined ? "" : `; users of ${config?.passwordFile} must give their password`
      }.`,
    );
  } else {
    log("Anonymous clients are allowed: no listener is configured (local only mode).");
  }
  for (const l of config?.listeners ?? []) {
    if (l.allowAnonymous === undefined && l.passwordFile === undefined && l.aclFile === undefined) {
      continue;
    }
    const anonymous = l.allowAnonymous ?? allowAnonymous;
    log(
      `Listener on port ${l.port} has its own security settings: anonymous clients ${
        anonymous ? "allowed" : "refused"
      }${l.passwordFile === undefined ? "" : `, users of ${l.passwordFile}`}${
        l.aclFile === undefined ? "" : `, ACL ${l.aclFile}`
      }.`,
    );
  }
  // The running broker's lines are gathered and written once per turn of the event loop: a
  // burst of connections costs one write to standard error, not two per client.
  const write = out !== undefined && typeof out !== "function"
    ? (lines: string[]) => out.writeText(`${lines.join("\n")}\n`)
    : (lines: string[]) => lines.forEach((line) => stderr(line));
  let batch: string[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  const flushLog = (): void => {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    if (batch.length === 0) return;
    const lines = batch;
    batch = [];
    write(lines);
  };
  const brokerLog = (message: string): void => {
    batch.push(timestamps ? `${Math.floor(Date.now() / 1000)}: ${message}` : message);
    if (batch.length >= 1000) flushLog();
    else flushTimer ??= setTimeout(flushLog, 0);
  };
  let broker: Broker | undefined;
  let removeSignals: (() => void)[] = [];
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  try {
    const options: BrokerOptions = {
      ...config?.options,
      listeners,
      logTypes,
      logger: (_level, message) => brokerLog(message),
    };
    const security: Security = { allowAnonymous };
    if (passwords !== undefined) security.passwords = passwords;
    if (config?.passwordFile !== undefined) security.passwordFile = config.passwordFile;
    if (loaded?.acl !== undefined) security.acl = loaded.acl;
    if (config?.aclFile !== undefined) security.aclFile = config.aclFile;
    const plugins = securityPlugins(security, host, log);
    if (plugins.length > 0) options.plugins = plugins;
    if (config?.persistence !== undefined) {
      options.store = await openStore(config.persistence, host, log, recover);
    }
    if (host.adapter !== undefined) options.adapter = host.adapter;
    const memoryUsage = host.memoryUsage;
    if (memoryUsage !== undefined) options.memoryUsage = () => memoryUsage().heapUsed;
    // Signal handlers go in before the broker starts (and logs that it runs), so a signal
    // that arrives during start-up still shuts it down cleanly.
    removeSignals = [
      host.onSignal("SIGINT", stop),
      host.onSignal("SIGTERM", stop),
      host.onSignal("SIGHUP", () => {
        log("Reloading config.");
        // Failures are logged by the broker; the old files stay in force.
        broker?.reload().catch(() => {});
      }),
    ];
    broker = await startBroker(options);
  } catch (error) {
    for (const remove of removeSignals) remove();
    flushLog();
    log(`Error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  flushLog();
  host.onListening?.(broker);
  await stopped;
  for (const remove of removeSignals) remove();
  await broker.close();
  flushLog();
  return 0;
}

function isLoopback(hostname: string | undefined): boolean {
  return hostname === undefined || hostname === "localhost" || hostname === "::1" ||
    hostname.startsWith("127.");
}
