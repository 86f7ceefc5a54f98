/**
 * mosquitto 2.0's `acl_file`: a parser and a checker that give the answers Debian's
 * mosquitto 2.0.11 gives (tests/differential/acl_mosquitto_test.ts asserts it against the
 * real broker).
 *
 * What mosquitto does, where it differs from what one might expect:
 * - SUBSCRIBE and UNSUBSCRIBE are never refused: reads are checked per delivered message
 *   instead (retained messages and `$SYS` included), so a subscriber to `#` receives only
 *   the topics it may read.
 * - The rules of the client's own section (anonymous clients: the lines before the first
 *   `user`) are checked first, denials before grants; `pattern` rules only when none of them
 *   granted access, so a `topic` grant wins over a `pattern deny`.
 * - A client with a user name never uses the anonymous rules; an empty user name counts as
 *   none. An empty file, or one with only `user` sections, grants anonymous clients nothing.
 * - `%c` and `%u` are replaced wherever they appear in a `pattern` topic, and a client id or
 *   user name with `/` spans several levels; a client whose id or user name contains `+` or
 *   `#` gets nothing from `pattern` rules. A pattern with `%u` never matches an anonymous
 *   client.
 * - Writes to topics starting `$SYS` are refused, except `$SYS/broker/connection/+/state`;
 *   reads and writes of topics starting `$share` are refused.
 *
 * @module
 */

import { utf8Length } from "../protocol/utf8.ts";
import type { AuthorizeRequest, BrokerPlugin } from "./types.ts";

/** What a client wants to do with a topic. */
export const AclAccess = {
  /** Receive a message published to the topic. */
  Read: "read",
  /** Publish to the topic. */
  Write: "write",
  /** Subscribe to the topic filter (mosquitto's acl_file always allows it). */
  Subscribe: "subscribe",
  /** Unsubscribe from the topic filter (mosquitto's acl_file always allows it). */
  Unsubscribe: "unsubscribe",
} as const;

/** What a client wants to do with a topic. */
export type AclAccess = typeof AclAccess[keyof typeof AclAccess];

/** Who asks: the client id, and the user name it connected with (if any). */
export interface AclSubject {
  /** The client identifier (`%c` in patterns). */
  clientId: string;
  /** The user name (`%u` in patterns); `undefined` or `""` for anonymous clients. */
  username?: string | undefined;
}

/** Why an ACL file could not be parsed. */
export const AclFileErrorKind = {
  /** A line starts with a word other than `topic`, `pattern` or `user` (or `#` after spaces). */
  UnknownKeyword: "unknown-keyword",
  /** A `topic` or `pattern` line has no topic. */
  EmptyTopic: "empty-topic",
  /** The access of a `topic` or `pattern` line is not `read`, `write`, `readwrite` or `deny`. */
  InvalidAccess: "invalid-access",
  /** The topic is not a valid topic filter (misplaced `+` or `#`, too long). */
  InvalidTopic: "invalid-topic",
  /** A `user` line has no user name. */
  MissingUsername: "missing-username",
} as const;

/** Why an ACL file could not be parsed. */
export type AclFileErrorKind = typeof AclFileErrorKind[keyof typeof AclFileErrorKind];

/** Options of {@linkcode AclFileError}. */
export interface AclFileErrorOptions {
  /** The ACL file's name, as given. */
  file: string;
  /** The 1-based line. */
  line: number;
  /** What went wrong. */
  kind: AclFileErrorKind;
}

/**
 * A line of an ACL file that mosquitto would refuse to start with.
 *
 * @example Catch an unknown keyword
 * ```ts
 * import assert from "node:assert/strict";
 * import { AclFile, AclFileError } from "./acl_file.ts";
 * assert.throws(() => AclFile.parse("topic a\nsubscribe b\n", "acl"), (error) => {
 *   return error instanceof AclFileError && error.line === 2 && error.kind === "unknown-keyword";
 * });
 * ```
 */
export class AclFileError extends Error {
  /** The ACL file's name, as given. */
  readonly file: string;
  /** The 1-based line. */
  readonly line: number;
  /** What went wrong. */
  readonly kind: AclFileErrorKind;

  /**
   * Create an ACL file error.
   *
   * @param message What went wrong, without the location (`file` and `line` carry it).
   * @param options File, line and kind.
   */
  constructor(message: string, options: AclFileErrorOptions) {
    super(message);
    this.name = "AclFileError";
    this.file = options.file;
    this.line = options.line;
    this.kind = options.kind;
  }
}

// What the rules ending at a trie node grant: access bits, and DENY for `deny` rules.
const READ = 1;
const WRITE = 2;
const DENY = 4;
const ACCESS_BITS: Readonly<Record<string, number>> = {
  read: READ,
  write: WRITE,
  readwrite: READ | WRITE,
  deny: DENY,
};

// Template parts other than literal text.
const CLIENT_ID = 0;
const USERNAME = 1;
type Part = string | typeof CLIENT_ID | typeof USERNAME;

/**
 * A trie of rule topics, one level per edge. A check walks it along the topic, so its cost
 * depends on the topic and the rules that match, hardly on how many rules there are.
 */
class Node {
  /** The literal level leading here (checked after a hash hit). */
  readonly text: string;
  /** Rules ending here. */
  end = 0;
  /** Rules ending here with "/#" (or "#" at the root). */
  hash = 0;
  /** The "+" child. */
  plus: Node | undefined = undefined;
  /** Literal children by the hash of their level. */
  readonly literals: Map<number, Node[]> = new Map();
  /** Template children: pattern levels with `%c` or `%u`. */
  readonly templates: Template[] = [];

  constructor(text: string) {
    this.text = text;
  }
}

interface Template {
  /** The level as written, to share edges. */
  readonly key: string;
  readonly parts: readonly Part[];
  readonly usesUsername: boolean;
  readonly node: Node;
}

const SLASH = 0x2f;
const DOLLAR = 0x24;
const PLUS_CHAR = 0x2b;
const HASH_CHAR = 0x23;
const PERCENT = 0x25;
const SPACE = 0x20;
const MAX_TOPIC_LENGTH = 65535;

// The one $SYS topic mosquitto lets clients (bridges) publish to.
const CONNECTION_STATE = new Node("");
insert(CONNECTION_STATE, "$SYS/broker/connection/+/state", { isPattern: false, access: WRITE });

/**
 * A parsed mosquitto `acl_file`, checked as mosquitto 2.0 checks it.
 *
 * @example Anonymous, user and pattern rules
 * ```ts
 * import assert from "node:assert/strict";
 * import { AclFile } from "./acl_file.ts";
 * const acl = AclFile.parse([
 *   "topic read public/#",
 *   "pattern write clients/%c/status",
 *   "user alice",
 *   "topic readwrite alice/#",
 * ].join("\n"));
 * assert.equal(acl.check("read", { clientId: "c1" }, "public/news"), true);
 * assert.equal(acl.check("write", { clientId: "c1" }, "clients/c1/status"), true);
 * assert.equal(acl.check("write", { clientId: "c1" }, "clients/c2/status"), false);
 * assert.equal(acl.check("read", { clientId: "c2", username: "alice" }, "public/news"), false);
 * assert.equal(acl.check("write", { clientId: "c2", username: "alice" }, "alice/x"), true);
 * ```
 */
export class AclFile {
  readonly #anonymous: Node;
  readonly #users: ReadonlyMap<string, Node>;
  readonly #patterns: Node;

  private constructor(
    anonymous: Node,
    users: ReadonlyMap<string, Node>,
    patterns: Node,
  ) {
    this.#anonymous = anonymous;
    this.#users = users;
    this.#patterns = patterns;
  }

  /**
   * Parse the text of an ACL file, with mosquitto 2.0's rules: `# comment` lines (the `#` in
   * the first column only) and blank lines are skipped; words are separated by spaces (not
   * tabs); spaces may start a line and trailing white space is ignored; `user <name>` starts
   * a user section (the name is the rest of the line); `topic` and `pattern` take an optional
   * `read`, `write`, `readwrite` (the default) or `deny`, then a topic filter that is the rest
   * of the line, spaces included (`topic read` alone is the topic "read"). Repeated `user`
   * sections add up.
   *
   * @example Parse a file and check a write
   * ```ts
   * import assert from "node:assert/strict";
   * import { AclFile } from "./acl_file.ts";
   * const acl = AclFile.parse("# sensors\ntopic write sensors/+/temperature\n", "acl");
   * assert.equal(acl.check("write", { clientId: "s1" }, "sensors/s1/temperature"), true);
   * assert.equal(acl.check("read", { clientId: "s1" }, "sensors/s1/temperature"), false);
   * ```
   *
   * @param text The file's content.
   * @param fileName The file's name, for errors (default `"acl_file"`).
   * @returns The parsed rules.
   * @throws {AclFileError} On a line mosquitto refuses to start with.
   */
  static parse(text: string, fileName = "acl_file"): AclFile {
    const anonymous: Node = new Node("");
    const users = new Map<string, Node>();
    const patterns: Node = new Node("");
    let section = anonymous;
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.replace(/[ \t\r\v\f]+$/, "");
      if (line === "" || line.charCodeAt(0) === HASH_CHAR) continue;
      const fail = (message: string, kind: AclFileErrorKind): AclFileError =>
        new AclFileError(message, { file: fileName, line: i + 1, kind });
      const start = skipSpaces(line, 0);
      const end = wordEnd(line, start);
      const keyword = line.slice(start, end);
      const rest = line.slice(skipSpaces(line, end));
      if (keyword === "user") {
        if (rest === "") {
          throw fail(`Cannot parse ACL file: "user" has no user name`, "missing-username");
        }
        let set = users.get(rest);
        if (set === undefined) users.set(rest, set = new Node(""));
        section = set;
      } else if (keyword === "topic" || keyword === "pattern") {
        if (rest === "") {
          throw fail(`Cannot parse ACL file: "${keyword}" has no topic`, "empty-topic");
        }
        const first = wordEnd(rest, 0);
        let access = READ | WRITE;
        let topic = rest;
        if (first < rest.length) {
          const word = rest.slice(0, first);
          const bits = Object.hasOwn(ACCESS_BITS, word) ? ACCESS_BITS[word] : undefined;
          if (bits === undefined) {
            throw fail(
              `Cannot parse ACL file: access "${word}" is not read, write, readwrite or deny`,
              "invalid-access",
            );
          }
          access = bits;
          topic = rest.slice(skipSpaces(rest, first));
        }
        if (!isValidFilter(topic)) {
          throw fail(
            `Cannot parse ACL file: topic "${topic}" is not a valid filter`,
            "invalid-topic",
          );
        }
        const isPattern = keyword === "pattern";
        insert(isPattern ? patterns : section, topic, { isPattern, access });
      } else {
        throw fail(`Cannot parse ACL file: unknown keyword "${keyword}"`, "unknown-keyword");
      }
    }
    return new AclFile(anonymous, users, patterns);
  }

  /**
   * Whether a client may do something with a topic, as mosquitto 2.0 decides with this file.
   * Subscribing and unsubscribing are always allowed (mosquitto checks each delivered message
   * with `"read"` instead), so call it with `"read"` for every message about to be delivered,
   * retained ones included, and with `"write"` for every PUBLISH (and will) received.
   * Allocates nothing.
   *
   * @example Denials and the read check per message
   * ```ts
   * import assert from "node:assert/strict";
   * import { AclFile } from "./acl_file.ts";
   * const acl = AclFile.parse("topic read a/#\ntopic deny a/secret\n");
   * const subject = { clientId: "c1" };
   * assert.equal(acl.check("subscribe", subject, "#"), true);
   * assert.equal(acl.check("read", subject, "a/b"), true);
   * assert.equal(acl.check("read", subject, "a/secret"), false);
   * assert.equal(acl.check("read", subject, "b"), false);
   * ```
   *
   * @param access What the client wants to do.
   * @param subject The client id and user name.
   * @param topic The topic name (a filter for `"subscribe"` and `"unsubscribe"`).
   * @returns `true` when allowed.
   * @throws {TypeError} When `access` is not one of {@linkcode AclAccess}.
   */
  check(access: AclAccess, subject: AclSubject, topic: string): boolean {
    let bit: number;
    if (access === "read") bit = READ;
    else if (access === "write") bit = WRITE;
    else if (access === "subscribe" || access === "unsubscribe") return true;
    else throw new TypeError(`Cannot check ACL: access "${String(access)}" is not known`);
    if (topic.charCodeAt(0) === DOLLAR) {
      if (topic.startsWith("$SYS")) {
        if (bit === WRITE && collect(CONNECTION_STATE, topic, 0, "", undefined) === 0) {
          return false;
        }
      } else if (topic.startsWith("$share")) {
        return false;
      }
    }
    const { clientId } = subject;
    const username = subject.username === "" ? undefined : subject.username;
    const own = username === undefined ? this.#anonymous : this.#users.get(username);
    if (own !== undefined) {
      // Denials first, then grants; no rule's order matters.
      const found = collect(own, topic, 0, clientId, username);
      if ((found & DENY) !== 0) return false;
      if ((found & bit) !== 0) return true;
    }
    // CVE-2017-7650: "+" or "#" substituted into a pattern would widen it.
    if (hasWildcard(clientId) || (username !== undefined && hasWildcard(username))) return false;
    const found = collect(this.#patterns, topic, 0, clientId, username);
    return (found & DENY) === 0 && (found & bit) !== 0;
  }
}

function skipSpaces(s: string, from: number): number {
  while (from < s.length && s.charCodeAt(from) === SPACE) from++;
  return from;
}

function wordEnd(s: string, from: number): number {
  const space = s.indexOf(" ", from);
  return space === -1 ? s.length : space;
}

function hasWildcard(s: string): boolean {
  return s.includes("+") || s.includes("#");
}

// A topic filter as mosquitto accepts one in an ACL: "+" and "#" only as a whole level,
// "#" only last.
function isValidFilter(topic: string): boolean {
  // The limit is in UTF-8 bytes: at most 3 per UTF-16 code unit.
  if (topic.length * 3 > MAX_TOPIC_LENGTH && utf8Length(topic) > MAX_TOPIC_LENGTH) return false;
  const n = topic.length;
  for (let i = 0; i < n; i++) {
    const c = topic.charCodeAt(i);
    if (c !== PLUS_CHAR && c !== HASH_CHAR) continue;
    if (i > 0 && topic.charCodeAt(i - 1) !== SLASH) return false;
    if (c === HASH_CHAR ? i !== n - 1 : i + 1 < n && topic.charCodeAt(i + 1) !== SLASH) {
      return false;
    }
  }
  return true;
}

// Add a rule: walk (or grow) the trie along its levels and mark where it ends.
function insert(root: Node, topic: string, rule: { isPattern: boolean; access: number }): void {
  const levels = topic.split("/");
  let node = root;
  for (let i = 0; i < levels.length; i++) {
    const text = levels[i]!;
    if (text === "#") {
      // A valid filter has "#" only last.
      node.hash |= rule.access;
      return;
    }
    if (text === "+") {
      node = node.plus ??= new Node(text);
    } else if (rule.isPattern && /%[cu]/.test(text)) {
      let edge = node.templates.find((t) => t.key === text);
      if (edge === undefined) {
        const parts = templateParts(text);
        edge = { key: text, parts, usesUsername: parts.includes(USERNAME), node: new Node(text) };
        node.templates.push(edge);
      }
      node = edge.node;
    } else {
      const key = hashOf(text, 0, text.length);
      let bucket = node.literals.get(key);
      if (bucket === undefined) node.literals.set(key, bucket = []);
      let child = bucket.find((c) => c.text === text);
      if (child === undefined) bucket.push(child = new Node(text));
      node = child;
    }
  }
  node.end |= rule.access;
}

// One pass, left to right: "%%c" is "%" then the client id; values are never rescanned.
function templateParts(text: string): Part[] {
  const parts: Part[] = [];
  let literal = "";
  for (let i = 0; i < text.length; i++) {
    const next = text[i + 1];
    if (text.charCodeAt(i) === PERCENT && (next === "c" || next === "u")) {
      if (literal !== "") parts.push(literal);
      literal = "";
      parts.push(next === "c" ? CLIENT_ID : USERNAME);
      i++;
    } else {
      literal += text[i];
    }
  }
  if (literal !== "") parts.push(literal);
  return parts;
}

function hashOf(s: string, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

/**
 * What the rules below `node` give a topic whose level starting at `t` comes next (`t` past
 * the end: every level consumed): the union of their access bits and DENY. Templates are
 * matched character by character, so a value with "/" spans levels as the substituted string
 * would. Allocates nothing.
 */
function collect(
  node: Node,
  topic: string,
  t: number,
  clientId: string,
  username: string | undefined,
): number {
  const n = topic.length;
  // 4.7.1.2: "a/#" also matches "a"
  if (t > n) return node.end | node.hash;
  // 4.7.2: "#" and "+" do not match a first level starting with "$" [MQTT-4.7.2-1]
  const wild = t > 0 || topic.charCodeAt(0) !== DOLLAR;
  let found = wild ? node.hash : 0;
  const slash = topic.indexOf("/", t);
  const end = slash === -1 ? n : slash;
  if (wild && node.plus !== undefined) {
    found |= collect(node.plus, topic, end + 1, clientId, username);
  }
  if (node.literals.size > 0) {
    const bucket = node.literals.get(hashOf(topic, t, end));
    if (bucket !== undefined) {
      for (let i = 0; i < bucket.length; i++) {
        const child = bucket[i]!;
        if (child.text.length === end - t && topic.startsWith(child.text, t)) {
          found |= collect(child, topic, end + 1, clientId, username);
        }
      }
    }
  }
  const templates = node.templates;
  for (let i = 0; i < templates.length; i++) {
    const edge = templates[i]!;
    if (edge.usesUsername && username === undefined) continue;
    let at = t;
    const parts = edge.parts;
    for (let p = 0; p < parts.length && at >= 0; p++) {
      const part = parts[p]!;
      const value = part === CLIENT_ID ? clientId : part === USERNAME ? username! : part;
      at = topic.startsWith(value, at) ? at + value.length : -1;
    }
    // The substituted level must end where a topic level ends.
    if (at === n || (at >= 0 && topic.charCodeAt(at) === SLASH)) {
      found |= collect(edge.node, topic, at + 1, clientId, username);
    }
  }
  return found;
}

/** Options of {@linkcode aclFilePlugin}. */
export interface AclFilePluginOptions {
  /** The parsed file. */
  acl: AclFile;
  /**
   * Read and parse the file again, for {@linkcode BrokerPlugin.reload} (SIGHUP). When it
   * throws, the plugin keeps the rules it had.
   */
  load?: () => Promise<AclFile>;
}

/**
 * mosquitto's `acl_file` as a broker plugin: PUBLISH (and wills) need `write`, every
 * delivery needs `read` (retained and `$SYS` messages included); SUBSCRIBE is never refused,
 * as in mosquitto 2.0, so a subscription to `#` only brings what the client may read.
 *
 * @example Only the owner of a topic tree may write it
 * ```ts
 * import assert from "node:assert/strict";
 * import { AclFile, aclFilePlugin } from "./acl_file.ts";
 * const plugin = aclFilePlugin({ acl: AclFile.parse("pattern readwrite devices/%u/#\n") });
 * const request = {
 *   action: "publish" as const,
 *   clientId: "c1",
 *   username: "ann",
 *   topic: "devices/ann/temp",
 *   qos: 0 as const,
 *   retain: false,
 *   shareName: undefined,
 * };
 * assert.equal(plugin.authorize!(request), true);
 * assert.equal(plugin.authorize!({ ...request, topic: "devices/bob/temp" }), false);
 * ```
 *
 * @param options The rules and how to read them again.
 * @returns The plugin.
 */
export function aclFilePlugin(options: AclFilePluginOptions): BrokerPlugin {
  let acl = options.acl;
  const subject: AclSubject = { clientId: "", username: undefined };
  const plugin: BrokerPlugin = {
    name: "ACL file",
    authorize(request: AuthorizeRequest): boolean {
      subject.clientId = request.clientId;
      subject.username = request.username;
      const access = request.action === "publish"
        ? "write"
        : request.action === "deliver"
        ? "read"
        : "subscribe";
      return acl.check(access, subject, request.topic);
    },
  };
  const load = options.load;
  if (load !== undefined) {
    plugin.reload = async () => {
      acl = await load();
    };
  }
  return plugin;
}
