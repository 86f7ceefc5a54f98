// This module is browser compatible.
/**
 * Topic Names, Topic Filters and matching (v5 §4.7 and §4.8.2, v3.1.1 §4.7).
 *
 * Spec ids below are v5's; v3.1.1 numbers the wildcard rules one higher: no wildcard in a
 * Topic Name is [MQTT-4.7.1-1] there, `#` is [MQTT-4.7.1-2], `+` is [MQTT-4.7.1-3].
 * Everything scans strings by index and allocates nothing, except
 * {@linkcode parseSharedSubscription} and the thrown errors.
 *
 * @module
 */

/** Limits for the topic validators. */
export interface TopicOptions {
  /** The largest number of levels (`"a/b"` has 2). Default: no limit. */
  maxLevels?: number;
  /** The largest UTF-8 length in bytes, capped at 65,535 [MQTT-4.7.3-3]. Default: 65,535. */
  maxLength?: number;
}

/**
 * Why a Topic Name or Topic Filter is invalid; see {@linkcode topicFaultSpec} for the spec id.
 * A PUBLISH with a bad Topic Name maps to reason code 0x90 (Topic Name invalid), a bad filter
 * in SUBSCRIBE to 0x8F (Topic Filter invalid).
 */
export const TopicFault = {
  /** Zero characters [MQTT-4.7.3-1]. */
  Empty: "empty",
  /** Contains U+0000 [MQTT-4.7.3-2]. */
  NullCharacter: "null-character",
  /** Contains a lone UTF-16 surrogate, which has no UTF-8 form [MQTT-1.5.4-1]. */
  LoneSurrogate: "lone-surrogate",
  /** Encodes to more bytes than allowed [MQTT-4.7.3-3]. */
  TooLong: "too-long",
  /** Has more levels than `maxLevels` (a local limit, not a spec rule). */
  TooManyLevels: "too-many-levels",
  /** A Topic Name contains `+` or `#` [MQTT-4.7.0-1]. */
  WildcardInName: "wildcard-in-name",
  /** `#` is not alone in the last level [MQTT-4.7.1-1]. */
  MisplacedMultiLevelWildcard: "misplaced-multi-level-wildcard",
  /** `+` does not occupy a whole level [MQTT-4.7.1-2]. */
  MisplacedSingleLevelWildcard: "misplaced-single-level-wildcard",
  /** `$share/` is followed by an empty ShareName [MQTT-4.8.2-1]. */
  EmptyShareName: "empty-share-name",
  /** The ShareName contains `+` or `#` [MQTT-4.8.2-2]. */
  InvalidShareName: "invalid-share-name",
  /** The ShareName is not followed by `/` and a Topic Filter [MQTT-4.8.2-2]. */
  MissingSharedFilter: "missing-shared-filter",
} as const;

/** A reason a Topic Name or Topic Filter is invalid. */
export type TopicFault = typeof TopicFault[keyof typeof TopicFault];

/** The parts of a shared subscription's Topic Filter, `$share/{ShareName}/{filter}`. */
export interface SharedSubscription {
  /** The ShareName. */
  group: string;
  /** The Topic Filter after the ShareName. */
  filter: string;
}

const MAX_TOPIC_BYTES = 65_535;
const SHARE_PREFIX = "$share/";
const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;
const DOLLAR = 0x24;

// Per fault: the normative id it breaks (v5), and why a value is refused, for error messages.
const FAULTS: Readonly<Record<TopicFault, readonly [spec: string | undefined, reason: string]>> = {
  "empty": ["MQTT-4.7.3-1", "it is empty"],
  "null-character": ["MQTT-4.7.3-2", "it contains the null character U+0000"],
  "lone-surrogate": ["MQTT-1.5.4-1", "it contains a lone surrogate, which has no UTF-8 form"],
  "too-long": ["MQTT-4.7.3-3", "it encodes to more bytes than allowed"],
  "too-many-levels": [undefined, "it has more levels than allowed"],
  "wildcard-in-name": ["MQTT-4.7.0-1", 'a topic name must not contain "+" or "#"'],
  "misplaced-multi-level-wildcard": ["MQTT-4.7.1-1", '"#" must be alone in the last level'],
  "misplaced-single-level-wildcard": ["MQTT-4.7.1-2", '"+" must occupy a whole level'],
  "empty-share-name": ["MQTT-4.8.2-1", 'the share name after "$share/" is empty'],
  "invalid-share-name": ["MQTT-4.8.2-2", 'the share name must not contain "+" or "#"'],
  "missing-shared-filter": [
    "MQTT-4.8.2-2",
    'the share name must be followed by "/" and a topic filter',
  ],
};

/**
 * The v5 normative id a {@linkcode TopicFault} breaks.
 *
 * @example The id for a wildcard in a Topic Name
 * ```ts
 * import assert from "node:assert/strict";
 * import { TopicFault, topicFaultSpec } from "./topic.ts";
 * assert.equal(topicFaultSpec(TopicFault.WildcardInName), "MQTT-4.7.0-1");
 * ```
 *
 * @param fault The fault.
 * @returns The spec id, or `undefined` for `too-many-levels`, which is a local limit.
 */
export function topicFaultSpec(fault: TopicFault): string | undefined {
  return FAULTS[fault][0];
}

/**
 * Find what, if anything, is wrong with a Topic Name (the topic of a PUBLISH or a Will).
 *
 * @example A wildcard is not allowed in a Topic Name
 * ```ts
 * import assert from "node:assert/strict";
 * import { topicNameFault } from "./topic.ts";
 * assert.equal(topicNameFault("sport/tennis"), undefined);
 * assert.equal(topicNameFault("sport/+"), "wildcard-in-name");
 * ```
 *
 * @param name The Topic Name.
 * @param options Limits on levels and length.
 * @returns The first fault found, or `undefined` when the name is valid.
 */
export function topicNameFault(name: string, options?: TopicOptions): TopicFault | undefined {
  // 4.7.3: at least one character [MQTT-4.7.3-1]
  if (name.length === 0) return TopicFault.Empty;
  return scan(name, 0, false, options);
}

/**
 * Find what, if anything, is wrong with a Topic Filter, including the shared subscription
 * form `$share/{ShareName}/{filter}` (§4.8.2).
 *
 * `$share/` is recognised whatever the protocol version, as mosquitto does.
 *
 * @example A `#` must be alone in the last level
 * ```ts
 * import assert from "node:assert/strict";
 * import { topicFilterFault } from "./topic.ts";
 * assert.equal(topicFilterFault("sport/tennis/#"), undefined);
 * assert.equal(topicFilterFault("sport/tennis#"), "misplaced-multi-level-wildcard");
 * ```
 *
 * @param filter The Topic Filter.
 * @param options Limits on levels (counted after any `$share/{ShareName}/`) and length.
 * @returns The first fault found, or `undefined` when the filter is valid.
 */
export function topicFilterFault(filter: string, options?: TopicOptions): TopicFault | undefined {
  // 4.7.3: at least one character [MQTT-4.7.3-1]
  if (filter.length === 0) return TopicFault.Empty;
  let from = 0;
  if (filter.startsWith(SHARE_PREFIX)) {
    const fault = shareFault(filter);
    if (fault !== undefined) return fault;
    from = filter.indexOf("/", SHARE_PREFIX.length) + 1;
  }
  return scan(filter, from, true, options);
}

/**
 * Check a Topic Name given to the API.
 *
 * @example Reject an empty name and a wildcard
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateTopicName } from "./topic.ts";
 * validateTopicName("sport/tennis/player1");
 * assert.throws(() => validateTopicName(""), TypeError);
 * assert.throws(() => validateTopicName("sport/#"), TypeError);
 * ```
 *
 * @param name The Topic Name.
 * @param options Limits on levels and length.
 * @throws {TypeError} When `name` is not a string or breaks a rule of §4.7.
 * @throws {RangeError} When it is longer or has more levels than allowed.
 */
export function validateTopicName(name: string, options?: TopicOptions): void {
  if (typeof name !== "string") throw notString("topic name", name);
  const fault = topicNameFault(name, options);
  if (fault !== undefined) throw topicError("topic name", name, fault);
}

/**
 * Whether a string is a valid Topic Name; the non-throwing twin of {@linkcode validateTopicName}.
 *
 * @example Names and non-names
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidTopicName } from "./topic.ts";
 * assert.equal(isValidTopicName("/"), true);
 * assert.equal(isValidTopicName("a/+/b"), false);
 * assert.equal(isValidTopicName("a/b/c", { maxLevels: 2 }), false);
 * ```
 *
 * @param name The candidate.
 * @param options Limits on levels and length.
 * @returns `true` when valid.
 */
export function isValidTopicName(name: string, options?: TopicOptions): boolean {
  return typeof name === "string" && topicNameFault(name, options) === undefined;
}

/**
 * Check a Topic Filter given to the API, including `$share/{ShareName}/{filter}`.
 *
 * @example Reject a misplaced `+`
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateTopicFilter } from "./topic.ts";
 * validateTopicFilter("+/tennis/#");
 * validateTopicFilter("$share/group/sport/#");
 * assert.throws(() => validateTopicFilter("sport+"), TypeError);
 * ```
 *
 * @param filter The Topic Filter.
 * @param options Limits on levels and length.
 * @throws {TypeError} When `filter` is not a string or breaks a rule of §4.7 or §4.8.2.
 * @throws {RangeError} When it is longer or has more levels than allowed.
 */
export function validateTopicFilter(filter: string, options?: TopicOptions): void {
  if (typeof filter !== "string") throw notString("topic filter", filter);
  const fault = topicFilterFault(filter, options);
  if (fault !== undefined) throw topicError("topic filter", filter, fault);
}

/**
 * Whether a string is a valid Topic Filter; the non-throwing twin of
 * {@linkcode validateTopicFilter}.
 *
 * @example Filters and non-filters
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidTopicFilter } from "./topic.ts";
 * assert.equal(isValidTopicFilter("sport/+/player1"), true);
 * assert.equal(isValidTopicFilter("sport/tennis/#/ranking"), false);
 * assert.equal(isValidTopicFilter("$share/a+b/x"), false);
 * ```
 *
 * @param filter The candidate.
 * @param options Limits on levels and length.
 * @returns `true` when valid.
 */
export function isValidTopicFilter(filter: string, options?: TopicOptions): boolean {
  return typeof filter === "string" && topicFilterFault(filter, options) === undefined;
}

/**
 * Split a shared subscription's Topic Filter into its ShareName and filter (§4.8.2).
 *
 * Only the `$share/{ShareName}/` part is checked; validate the whole filter first with
 * {@linkcode validateTopicFilter} or {@linkcode topicFilterFault}.
 *
 * @example Split, and ignore a non-shared filter
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSharedSubscription } from "./topic.ts";
 * assert.deepEqual(parseSharedSubscription("$share/consumer1//finance"), {
 *   group: "consumer1",
 *   filter: "/finance",
 * });
 * assert.equal(parseSharedSubscription("sport/#"), undefined);
 * ```
 *
 * @param filter The Topic Filter.
 * @returns The parts, or `undefined` when `filter` does not start with `$share/`.
 * @throws {TypeError} When it starts with `$share/` but the ShareName is empty, contains `+` or
 * `#`, or is not followed by `/` and a filter [MQTT-4.8.2-1] [MQTT-4.8.2-2].
 */
export function parseSharedSubscription(filter: string): SharedSubscription | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const fault = shareFault(filter);
  if (fault !== undefined) throw topicError("topic filter", filter, fault);
  const slash = filter.indexOf("/", SHARE_PREFIX.length);
  return { group: filter.slice(SHARE_PREFIX.length, slash), filter: filter.slice(slash + 1) };
}

/**
 * Whether a Topic Name matches a Topic Filter (§4.7.1, §4.7.2).
 *
 * `#` matches its parent level and any number of child levels (`sport/#` matches `sport`),
 * `+` matches exactly one level, which may be empty (`sport/+` matches `sport/`, not `sport`),
 * and a filter starting with a wildcard never matches a name starting with `$`
 * [MQTT-4.7.2-1]. Comparison is exact, code unit by code unit, with no normalisation
 * [MQTT-4.7.3-4]. Both arguments are assumed valid; a `$share/` filter is compared literally,
 * so match the `filter` from {@linkcode parseSharedSubscription} instead.
 *
 * @example The spec's examples
 * ```ts
 * import assert from "node:assert/strict";
 * import { matchTopic } from "./topic.ts";
 * assert.equal(matchTopic("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"), true);
 * assert.equal(matchTopic("sport/#", "sport"), true);
 * assert.equal(matchTopic("sport/+", "sport"), false);
 * assert.equal(matchTopic("#", "$SYS/broker/uptime"), false);
 * ```
 *
 * @param filter A valid Topic Filter.
 * @param topic A valid Topic Name.
 * @returns `true` when `topic` matches `filter`.
 */
export function matchTopic(filter: string, topic: string): boolean {
  const fl = filter.length;
  const tl = topic.length;
  let f = 0;
  let t = 0;
  if (topic.charCodeAt(0) === DOLLAR) {
    // 4.7.2: "#" and "+/..." do not match "$SYS/..." [MQTT-4.7.2-1]
    const first = filter.charCodeAt(0);
    if (first === HASH || first === PLUS) return false;
  }
  // Each pass starts at the beginning of a level in both strings.
  for (;;) {
    const c = filter.charCodeAt(f);
    // A valid filter has "#" only as its whole last level: it matches all that is left
    if (c === HASH) return true;
    if (c === PLUS) {
      f++;
      while (t < tl && topic.charCodeAt(t) !== SLASH) t++;
    } else {
      for (; f < fl; f++, t++) {
        const fc = filter.charCodeAt(f);
        if (fc === SLASH) break;
        if (t >= tl || topic.charCodeAt(t) !== fc) return false;
      }
      if (t < tl && topic.charCodeAt(t) !== SLASH) return false;
    }
    // Both at the end of a level: the end of the string or a "/"
    if (f >= fl) return t >= tl;
    // 4.7.1.2: "sport/#" also matches "sport", the parent level
    if (t >= tl) return f + 2 === fl && filter.charCodeAt(f + 1) === HASH;
    f++;
    t++;
  }
}

/**
 * The number of levels in a Topic Name or Filter: one more than the number of `/`.
 *
 * @example Empty levels count
 * ```ts
 * import assert from "node:assert/strict";
 * import { topicLevels } from "./topic.ts";
 * assert.equal(topicLevels("sport/tennis"), 2);
 * assert.equal(topicLevels("/"), 2);
 * ```
 *
 * @param topic The Topic Name or Filter.
 * @returns The level count.
 */
export function topicLevels(topic: string): number {
  let levels = 1;
  for (let i = topic.indexOf("/"); i !== -1; i = topic.indexOf("/", i + 1)) levels++;
  return levels;
}

// 4.8.2: "$share/" then a ShareName of at least one character [MQTT-4.8.2-1], without "/", "+"
// or "#", followed by "/" and a Topic Filter [MQTT-4.8.2-2].
function shareFault(filter: string): TopicFault | undefined {
  const start = SHARE_PREFIX.length;
  const slash = filter.indexOf("/", start);
  const end = slash === -1 ? filter.length : slash;
  if (end === start) return TopicFault.EmptyShareName;
  for (let i = start; i < end; i++) {
    const c = filter.charCodeAt(i);
    if (c === PLUS || c === HASH) return TopicFault.InvalidShareName;
  }
  if (slash === -1 || slash + 1 === filter.length) return TopicFault.MissingSharedFilter;
  return undefined;
}

/**
 * One pass over `s`: U+0000, lone surrogates and the UTF-8 length over all of it; wildcards
 * and levels from `from` (after a `$share/{ShareName}/` prefix).
 */
function scan(
  s: string,
  from: number,
  wildcards: boolean,
  options: TopicOptions | undefined,
): TopicFault | undefined {
  const maxLength = Math.min(options?.maxLength ?? MAX_TOPIC_BYTES, MAX_TOPIC_BYTES);
  const n = s.length;
  // Every UTF-16 unit takes at least one byte [MQTT-4.7.3-3]
  if (n > maxLength) return TopicFault.TooLong;
  let bytes = n;
  let levels = 1;
  let levelStart = from;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      // 4.7.3: no null character [MQTT-4.7.3-2]
      if (c === 0) return TopicFault.NullCharacter;
      if (i < from) continue;
      if (c === SLASH) {
        levels++;
        levelStart = i + 1;
      } else if (c === PLUS) {
        // 4.7.0: no wildcards in a Topic Name [MQTT-4.7.0-1]
        if (!wildcards) return TopicFault.WildcardInName;
        // 4.7.1.3: "+" occupies an entire level [MQTT-4.7.1-2]
        if (i !== levelStart || (i + 1 < n && s.charCodeAt(i + 1) !== SLASH)) {
          return TopicFault.MisplacedSingleLevelWildcard;
        }
      } else if (c === HASH) {
        if (!wildcards) return TopicFault.WildcardInName;
        // 4.7.1.2: "#" on its own or after "/", and the last character [MQTT-4.7.1-1]
        if (i !== levelStart || i + 1 !== n) return TopicFault.MisplacedMultiLevelWildcard;
      }
    } else if (c < 0x800) {
      bytes += 1;
    } else if (c < 0xd800 || c > 0xdfff) {
      bytes += 2;
    } else if (c < 0xdc00 && isLowSurrogate(s.charCodeAt(i + 1))) {
      bytes += 2;
      i++;
    } else {
      // 1.5.4: the UTF-8 form must be well-formed, and a lone surrogate has none [MQTT-1.5.4-1]
      return TopicFault.LoneSurrogate;
    }
  }
  if (bytes > maxLength) return TopicFault.TooLong;
  if (options?.maxLevels !== undefined && levels > options.maxLevels) {
    return TopicFault.TooManyLevels;
  }
  return undefined;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

function topicError(what: string, value: string, fault: TopicFault): Error {
  const message = `Cannot use ${what} ${quote(value)}: ${FAULTS[fault][1]}`;
  return fault === TopicFault.TooLong || fault === TopicFault.TooManyLevels
    ? new RangeError(message)
    : new TypeError(message);
}

function notString(what: string, value: unknown): TypeError {
  return new TypeError(`Cannot use ${typeof value} as a ${what}: a string is required`);
}

/** Quote a value for an error message, shortened so huge inputs do not flood logs. */
function quote(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 61)}...` : s);
}
