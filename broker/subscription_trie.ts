// This module is browser compatible.
/**
 * The broker's subscription index: a topic trie keyed by filter level (ARCHITECTURE.md rule 7).
 *
 * Each (client, Topic Filter) pair holds one value (the broker keeps QoS, options and the
 * subscription identifier in it). A publish walks the trie along the topic's levels, following
 * the literal child, the `+` child and the `#` child of each node, so a match costs
 * O(topic levels + matches) whatever the number of subscriptions. Shared subscriptions
 * (`$share/{ShareName}/{filter}`, v5 §4.8.2) live in a second trie, one {@linkcode SharedGroup}
 * per (ShareName, filter), each choosing its members round robin.
 *
 * Empty nodes are pruned on removal, so memory follows the live subscriptions, not the churn.
 *
 * @module
 */

import { parseSharedSubscription, validateTopicFilter } from "../protocol/topic.ts";

const DOLLAR = 0x24;

/**
 * Called by {@linkcode SubscriptionTrie.match} once per matching (client, filter) pair.
 *
 * @param clientId The subscribing client.
 * @param value The value stored with the subscription.
 * @param filter The subscription's Topic Filter.
 */
export type SubscriptionVisitor<T> = (clientId: string, value: T, filter: string) => void;

/**
 * Called by {@linkcode SubscriptionTrie.matchShared} once per matching share group.
 *
 * @param group The ShareName.
 * @param filter The group's Topic Filter, without the `$share/{ShareName}/` prefix.
 * @param members The group; pick the receiver with {@linkcode SharedGroup.next}.
 */
export type SharedGroupVisitor<T> = (
  group: string,
  filter: string,
  members: SharedGroup<T>,
) => void;

/** A member of a {@linkcode SharedGroup}: a client and the value of its subscription. */
export interface SharedMember<T> {
  /** The subscribing client. */
  readonly clientId: string;
  /** The value stored with the subscription. */
  readonly value: T;
}

/**
 * The subscribers of one shared subscription `$share/{name}/{filter}` (v5 §4.8.2).
 *
 * Members are served round robin: {@linkcode SharedGroup.next} cycles through them in order,
 * skipping none. A member that joins is placed last in the current rotation; a member that
 * leaves does not disturb the turn of the others. Change membership only through the
 * {@linkcode SubscriptionTrie} that owns the group.
 */
export interface SharedGroup<T> {
  /** The ShareName. */
  readonly name: string;
  /** The Topic Filter, without the `$share/{ShareName}/` prefix. */
  readonly filter: string;
  /** The number of members. */
  readonly size: number;
  /**
   * The member whose turn it is, moving the turn on to the following member.
   *
   * With `accept`, members it rejects are passed over (keeping their place in the
   * rotation) and the first accepted one is returned; each member is asked at most once.
   *
   * @param accept Whether a member may receive this message (for example, is online).
   * @returns The chosen member, or `undefined` when the group is empty or none is accepted
   * (the turn then does not move).
   */
  next(accept?: (clientId: string, value: T) => boolean): SharedMember<T> | undefined;
  /**
   * The value of a member's subscription.
   *
   * @param clientId The client.
   * @returns The value, or `undefined` when the client is not a member.
   */
  get(clientId: string): T | undefined;
  /**
   * Whether a client is a member.
   *
   * @param clientId The client.
   * @returns `true` when it is.
   */
  has(clientId: string): boolean;
  /**
   * The members in serving order, starting with the one whose turn it is.
   *
   * @returns An iterator over the members.
   */
  [Symbol.iterator](): IterableIterator<SharedMember<T>>;
}

/**
 * Subscriptions of clients to Topic Filters, matched against Topic Names through a trie.
 *
 * @example Subscribe, match and unsubscribe
 * ```ts
 * import assert from "node:assert/strict";
 * import { SubscriptionTrie } from "./subscription_trie.ts";
 * const trie = new SubscriptionTrie<number>();
 * trie.add("alice", "sport/#", 1);
 * trie.add("bob", "sport/+/player1", 2);
 * trie.add("carol", "$share/g/sport/tennis/+", 0);
 * const hits: string[] = [];
 * trie.match("sport/tennis/player1", (clientId, qos) => hits.push(`${clientId}:${qos}`));
 * assert.deepEqual(hits.sort(), ["alice:1", "bob:2"]);
 * trie.matchShared("sport/tennis/player1", (_group, _filter, members) => {
 *   assert.equal(members.next()?.clientId, "carol");
 * });
 * assert.equal(trie.removeClient("alice"), 1);
 * assert.equal(trie.size, 2);
 * ```
 *
 * @typeParam T The value stored with each subscription.
 */
export class SubscriptionTrie<T> {
  #root: Node<T> = new Node<T>(undefined, "");
  #sharedRoot: Node<T> = new Node<T>(undefined, "");
  #clients: Map<string, Map<string, Entry<T>>> = new Map();
  #lastTopic = "";
  #lastLevels: readonly string[] = [""];
  #size = 0;
  #nodeCount = 0;
  #visited = 0;
  // Reused across calls: the walk's explicit stack (no recursion, so no depth limit) and
  // the matched nodes. Each call works above the length it found, so a visitor may match again.
  #stack: Node<T>[] = [];
  #depth: number[] = [];
  #hits: Node<T>[] = [];

  /**
   * The number of subscriptions, shared ones included.
   *
   * @example Count
   * ```ts
   * import assert from "node:assert/strict";
   * import { SubscriptionTrie } from "./subscription_trie.ts";
   * const trie = new SubscriptionTrie<number>();
   * trie.add("a", "x/#", 0);
   * trie.add("a", "$share/g/x/#", 0);
   * assert.equal(trie.size, 2);
   * ```
   *
   * @returns The count.
   */
  get size(): number {
    return this.#size;
  }

  /**
   * The number of clients with at least one subscription.
   *
   * @example Count
   * ```ts
   * import assert from "node:assert/strict";
   * import { SubscriptionTrie } from "./subscription_trie.ts";
   * const trie = new SubscriptionTrie<number>();
   * trie.add("a", "x", 0);
   * trie.add("a", "y", 0);
   * assert.equal(trie.clientCount, 1);
   * ```
   *
   * @returns The count.
   */
  get clientCount(): number {
    return this.#clients.size;
  }

  /**
   * The number of trie nodes (roots excluded): zero once every subscription is removed.
   *
   * @example Pruned on removal
   * ```ts
   * import assert from "node:assert/strict";
   * import { SubscriptionTrie } from "./subscription_trie.ts";
   * const trie = new SubscriptionTrie<number>();
   * trie.add("a", "x/y/#", 0);
   * assert.equal(trie.nodeCount, 3);
   * trie.remove("a", "x/y/#");
   * assert.equal(trie.nodeCount, 0);
   * ```
   *
   * @returns The count.
   */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  /**
   * The total number of nodes visited by {@linkcode SubscriptionTrie.match} and
   * {@linkcode SubscriptionTrie.matchShared} so far, to check their cost in tests.
   *
   * @example One node per level
   * ```ts
   * import assert from "node:assert/strict";
   * import { SubscriptionTrie } from "./subscription_trie.ts";
   * const trie = new SubscriptionTrie<number>();
   * trie.add("a", "x/y", 0);
   * trie.match("x/y", () => {});
   * assert.equal(trie.nodesVisited, 3); // the root, "x" and "y"
   * ```
   *
   * @returns The count.
   */
  get nodesVisited(): number {
    return this.#visited;
  }

  /**
   * Subscribe a client to a Topic Filter, replacing its existing subscription to the
   * same filter [MQTT-3.8.4-3]. A `$share/{ShareName}/{filter}` filter joins that share group.
   *
   * @example New, then replaced
   * ```ts
   * import assert from "node:assert/strict";
   * import { SubscriptionTrie } from "./subscription_trie.ts";
   * const trie = new SubscriptionTrie<number>();
   * assert.equal(trie.add("a", "sport/#", 0), true);
   * assert.equal(trie.add("a", "sport/#", 2), false);
   * assert.equal(trie.get("a", "sport/#"), 2);
   * ```
   *
   * @param clientId The subscribing client.
   * @param filter A Topic Filter, possibly shared.
   * @param value The value to store with the subscription.
   * @returns `true` when the subscription is new, `false` when it replaced one.
   * @throws {TypeError} When `clientId` is not a string or `filter` is not a valid filter.
   * @throws {RangeError} When `filter` is too long.
   */
  add(clientId: string, filter: string, value: T): boolean {
    if (typeof clientId !== "string") {
      throw new TypeError(`Cannot add subscription: client id is ${typeof clientId}, not a string`);
    }
    validateTopicFilter(filter);
    let entries = this.#clients.get(clientId);
    const existing = entries?.get(filter);
    if (existing !== undefined) {
      existing.value = value;
      return false;
    }
    let entry: Entry<T>;
    const shared = parseSharedSubscription(filter);
    if (shared === undefined) {
      const node = this.#insert(this.#root, filter);
      const subs = node.subs ??= [];
      entry = new Sub(clientId, filter, value, node, subs.length);
      subs.push(entry);
    } else {
      const node = this.#insert(this.#sharedRoot, shared.filter);
      const groups = node.groups ??= new Map();
      let group = groups.get(shared.group);
      if (group === undefined) {
        group = new Group<T>(shared.group, shared.filter, node);
        groups.set(shared.group, group);
      }
      entry = group.join(clientId, value);
    }
    if (entries === undefined) {
      entries = new Map();
      this.#clients.set(clientId, entries);
    }
    entries.set(filter, entry);
    this.#size++;
    return true;
  }

  /**
   * The value of a client's subscription to a filter.
   *
   * @example Look up
   * ```ts
   * import assert from "node:assert/strict";
   * import { SubscriptionTrie } from "./subscription_trie.ts";
   * const trie = new SubscriptionTrie<string>();
   * trie.add("a", "$share/g/x", "v");
   * assert.equal(trie.get("a", "$share/g/x"), "v");
   * assert.equal(trie.get("a", "x"), undefined);
   * ```
   *
   * @param clientId The client.
   * @param filter The filter exactly as subscribed.
   * @returns The value, or `undefined` when there is no such subscription.
   */
  get(clientId: string, filter: string): T | undefined {
    return this.#clients.get(clientId)?.get(filter)?.value;
  }

  /**
   * How many subscriptions one client holds (shared ones included).
   *
   * @example Count a client's subscriptions
   * ```ts
   * import assert from "node:assert/strict";
   * import { SubscriptionTrie } from "./subscription_trie.ts";
   * const trie = new SubscriptionTrie<number>();
   * trie.add("c1", "a/+", 1);
   * trie.add("c1", "$share/g/b", 1);
   * assert.equal(trie.countOf("c1"), 2);
   * assert.equal(trie.countOf("c2"), 0);
   * ```
   *
   * @param clientId The client.
   * @returns The number of its subscriptions.
   */
  countOf(clientId: string): number {
    return this.#clients.get(clientId)?.size ?? 0;
  }

  /**
   * Whether a client is subscribed to a filter.
   *
   * @example Look up
   * ```ts
   * import assert from "node:assert/strict";
   * import { SubscriptionTrie } from "./subscription_trie.ts";
   * const trie = new SubscriptionTrie<number>();
   * trie.add("a", "x/+", 0);
   * assert.equal(trie.has("a", "x/+"), true);
   * assert.equal(trie.has("b", "x/+"), false);
   * ```
   *
   * @param clientId The client.
   * @param filter The filter exactly as subscribed.
   * @returns `true` when subscribed.
   */
  has(clientId: string, filter: string): boolean {
    return this.#clients.get(clientId)?.has(filter) ?? false;
  }

  /**
   * Unsubscribe a client from a filter, pruning nodes left empty.
   *
   * @example Remove once
   * ```ts
   * import assert from "node:assert/strict";
   * import { SubscriptionTrie } from "./subscription_trie.ts";
   * const trie = new SubscriptionTrie<number>();
   * trie.add("a", "x/#", 0);
   * assert.equal(trie.remove("a", "x/#"), true);
   * assert.equal(trie.remove("a", "x/#"), false);
   * ```
   *
   * @param clientId The client.
   * @param filter The filter exactly as subscribed.
   * @returns `true` when a subscription was removed.
   */
  remove(clientId: string, filter: string): boolean {
    const entries = this.#clients.get(clientId);
    const entry = entries?.get(filter);
    if (entries === undefined || entry === undefined) return false;
    this.#detach(entry);
    entries.delete(filter);
    if (entries.size === 0) this.#clients.delete(clientId);
    this.#size--;
    return true;
  }

  /**
   * Remove every subscription of a client, in time proportional to their number.
   *
   * @example Remove all
   * ```ts
   * import assert from "node:assert/strict";
   * import { SubscriptionTrie } from "./subscription_trie.ts";
   * const trie = new SubscriptionTrie<number>();
   * trie.add("a", "x", 0);
   * trie.add("a", "$share/g/y", 1);
   * assert.equal(trie.removeClient("a"), 2);
   * assert.equal(trie.size, 0);
   * ```
   *
   * @param clientId The client.
   * @returns The number of subscriptions removed.
   */
  removeClient(clientId: string): number {
    const entries = this.#clients.get(clientId);
    if (entries === undefined) return 0;
    this.#clients.delete(clientId);
    for (const entry of entries.values()) this.#detach(entry);
    this.#size -= entries.size;
    return entries.size;
  }

  /**
   * A client's subscriptions, shared ones with their `$share/{ShareName}/` prefix.
   *
   * @example List
   * ```ts
   * import assert from "node:assert/strict";
   * import { SubscriptionTrie } from "./subscription_trie.ts";
   * const trie = new SubscriptionTrie<number>();
   * trie.add("a", "x/#", 1);
   * trie.add("a", "$share/g/y", 2);
   * assert.deepEqual([...trie.subscriptionsOf("a")], [["x/#", 1], ["$share/g/y", 2]]);
   * ```
   *
   * @param clientId The client.
   * @returns The (filter, value) pairs, in subscription order.
   */
  *subscriptionsOf(clientId: string): IterableIterator<[filter: string, value: T]> {
    const entries = this.#clients.get(clientId);
    if (entries === undefined) return;
    for (const [filter, entry] of entries) yield [filter, entry.value];
  }

  /**
   * Visit every non-shared subscription whose filter matches a Topic Name, each
   * (client, filter) pair once; a client with several matching filters is visited once
   * per filter. Filters starting with `+` or `#` do not match names starting with `$`
   * [MQTT-4.7.2-1]; `sport/#` matches `sport`.
   *
   * The visitor may remove the subscription it is visiting (or its client); other changes
   * made during the walk may or may not be seen by it.
   *
   * @example Overlapping filters
   * ```ts
   * import assert from "node:assert/strict";
   * import { SubscriptionTrie } from "./subscription_trie.ts";
   * const trie = new SubscriptionTrie<number>();
   * trie.add("a", "sport/#", 0);
   * trie.add("a", "sport/tennis", 1);
   * trie.add("b", "#", 0);
   * const hits: string[] = [];
   * trie.match("sport/tennis", (clientId, _value, filter) => hits.push(`${clientId} ${filter}`));
   * assert.deepEqual(hits.sort(), ["a sport/#", "a sport/tennis", "b #"]);
   * hits.length = 0;
   * trie.match("$SYS/uptime", (clientId) => hits.push(clientId));
   * assert.deepEqual(hits, []);
   * ```
   *
   * @param topic A valid Topic Name.
   * @param visit Called for each matching subscription.
   */
  match(topic: string, visit: SubscriptionVisitor<T>): void {
    const hits = this.#hits;
    const base = hits.length;
    this.#collect(this.#root, topic);
    const end = hits.length;
    try {
      for (let h = base; h < end; h++) {
        const subs = hits[h]!.subs;
        if (subs === undefined) continue;
        // Backwards, so a visitor removing the current subscription skips none
        for (let k = subs.length - 1; k >= 0; k--) {
          const sub = subs[k];
          if (sub !== undefined) visit(sub.clientId, sub.value, sub.filter);
        }
      }
    } finally {
      hits.length = base;
    }
  }

  /**
   * Visit every share group whose filter matches a Topic Name, each once (v5 §4.8.2).
   * The `$` rule applies to the filter after `$share/{ShareName}/`.
   *
   * @example Round robin within a group
   * ```ts
   * import assert from "node:assert/strict";
   * import { SubscriptionTrie } from "./subscription_trie.ts";
   * const trie = new SubscriptionTrie<number>();
   * trie.add("a", "$share/g/jobs/+", 1);
   * trie.add("b", "$share/g/jobs/+", 1);
   * const got: string[] = [];
   * for (let i = 0; i < 4; i++) {
   *   trie.matchShared("jobs/1", (_group, _filter, members) => got.push(members.next()!.clientId));
   * }
   * assert.deepEqual(got, ["a", "b", "a", "b"]);
   * ```
   *
   * @param topic A valid Topic Name.
   * @param visit Called for each matching group.
   */
  matchShared(topic: string, visit: SharedGroupVisitor<T>): void {
    const hits = this.#hits;
    const base = hits.length;
    this.#collect(this.#sharedRoot, topic);
    const end = hits.length;
    try {
      for (let h = base; h < end; h++) {
        const groups = hits[h]!.groups;
        if (groups === undefined) continue;
        for (const group of groups.values()) visit(group.name, group.filter, group);
      }
    } finally {
      hits.length = base;
    }
  }

  /** Push onto #hits the nodes holding filters that match `topic`. */
  #collect(root: Node<T>, topic: string): void {
    // The same topic is matched twice per message (match, matchShared) and often repeats
    // from one message to the next: split it once.
    let levels = this.#lastLevels;
    if (topic !== this.#lastTopic) {
      levels = this.#lastLevels = topic.split("/");
      this.#lastTopic = topic;
    }
    const n = levels.length;
    // [MQTT-4.7.2-1]: no wildcard at the first level matches a name starting with "$"
    const dollar = topic.charCodeAt(0) === DOLLAR;
    const hits = this.#hits;
    const stack = this.#stack;
    const depth = this.#depth;
    const base = stack.length;
    let visited = 0;
    stack.push(root);
    depth.push(0);
    while (stack.length > base) {
      const node = stack.pop()!;
      const i = depth.pop()!;
      visited++;
      const wild = i !== 0 || !dollar;
      // "#" matches this level's parent too: "sport/#" matches "sport"
      if (wild && node.hash !== undefined) {
        visited++;
        hits.push(node.hash);
      }
      if (i === n) {
        hits.push(node);
        continue;
      }
      if (wild && node.plus !== undefined) {
        stack.push(node.plus);
        depth.push(i + 1);
      }
      const child = node.children?.get(levels[i]!);
      if (child !== undefined) {
        stack.push(child);
        depth.push(i + 1);
      }
    }
    this.#visited += visited;
  }

  /** The node for `filter` under `root`, created with its missing ancestors. */
  #insert(root: Node<T>, filter: string): Node<T> {
    let node = root;
    let start = 0;
    for (;;) {
      const slash = filter.indexOf("/", start);
      const level = slash === -1 ? filter.slice(start) : filter.slice(start, slash);
      node = this.#child(node, level);
      if (slash === -1) return node;
      start = slash + 1;
    }
  }

  #child(node: Node<T>, level: string): Node<T> {
    let child: Node<T> | undefined;
    if (level === "+") {
      child = node.plus;
      if (child === undefined) child = node.plus = new Node(node, level);
      else return child;
    } else if (level === "#") {
      child = node.hash;
      if (child === undefined) child = node.hash = new Node(node, level);
      else return child;
    } else {
      const children = node.children ??= new Map();
      child = children.get(level);
      if (child !== undefined) return child;
      child = new Node(node, level);
      children.set(level, child);
    }
    this.#nodeCount++;
    return child;
  }

  /** Take an entry out of its node or group (not out of the client index) and prune. */
  #detach(entry: Entry<T>): void {
    if (entry instanceof Member) {
      const group = entry.group;
      group.leave(entry);
      if (group.size > 0) return;
      const node = group.node;
      const groups = node.groups!;
      groups.delete(group.name);
      if (groups.size === 0) node.groups = undefined;
      this.#prune(node);
    } else {
      const node = entry.node;
      const subs = node.subs!;
      const last = subs.pop()!;
      if (last !== entry) {
        subs[entry.pos] = last;
        last.pos = entry.pos;
      }
      if (subs.length === 0) node.subs = undefined;
      this.#prune(node);
    }
  }

  /** Remove `node` and its ancestors while they are empty. */
  #prune(node: Node<T>): void {
    for (;;) {
      const parent = node.parent;
      if (parent === undefined || !node.isEmpty()) return;
      if (node.key === "+") parent.plus = undefined;
      else if (node.key === "#") parent.hash = undefined;
      else {
        const children = parent.children!;
        children.delete(node.key);
        if (children.size === 0) parent.children = undefined;
      }
      this.#nodeCount--;
      node = parent;
    }
  }
}

/** A trie node: one level of a filter. Used by both roots; only one kind of payload is set. */
class Node<T> {
  readonly parent: Node<T> | undefined;
  readonly key: string;
  children: Map<string, Node<T>> | undefined = undefined;
  plus: Node<T> | undefined = undefined;
  hash: Node<T> | undefined = undefined;
  /** Non-shared subscriptions whose filter ends here. */
  subs: Sub<T>[] | undefined = undefined;
  /** Share groups whose filter ends here, by ShareName. */
  groups: Map<string, Group<T>> | undefined = undefined;

  constructor(parent: Node<T> | undefined, key: string) {
    this.parent = parent;
    this.key = key;
  }

  isEmpty(): boolean {
    return this.children === undefined && this.plus === undefined && this.hash === undefined &&
      this.subs === undefined && this.groups === undefined;
  }
}

/** A non-shared subscription, at `node.subs[pos]`. */
class Sub<T> {
  readonly clientId: string;
  readonly filter: string;
  value: T;
  readonly node: Node<T>;
  pos: number;

  constructor(clientId: string, filter: string, value: T, node: Node<T>, pos: number) {
    this.clientId = clientId;
    this.filter = filter;
    this.value = value;
    this.node = node;
    this.pos = pos;
  }
}

/** A member of a share group, in the group's ring. */
class Member<T> implements SharedMember<T> {
  readonly clientId: string;
  value: T;
  readonly group: Group<T>;
  prev: Member<T> = this;
  next: Member<T> = this;

  constructor(clientId: string, value: T, group: Group<T>) {
    this.clientId = clientId;
    this.value = value;
    this.group = group;
  }
}

type Entry<T> = Sub<T> | Member<T>;

/** A share group: its members in a circular list, with the turn at `#cursor`. */
class Group<T> implements SharedGroup<T> {
  readonly name: string;
  readonly filter: string;
  readonly node: Node<T>;
  #members: Map<string, Member<T>> = new Map();
  #cursor: Member<T> | undefined = undefined;

  constructor(name: string, filter: string, node: Node<T>) {
    this.name = name;
    this.filter = filter;
    this.node = node;
  }

  get size(): number {
    return this.#members.size;
  }

  next(accept?: (clientId: string, value: T) => boolean): SharedMember<T> | undefined {
    let member = this.#cursor;
    for (let left = this.#members.size; member !== undefined && left > 0; left--) {
      if (accept === undefined || accept(member.clientId, member.value)) {
        this.#cursor = member.next;
        return member;
      }
      member = member.next;
    }
    return undefined;
  }

  get(clientId: string): T | undefined {
    return this.#members.get(clientId)?.value;
  }

  has(clientId: string): boolean {
    return this.#members.has(clientId);
  }

  *[Symbol.iterator](): IterableIterator<SharedMember<T>> {
    let member = this.#cursor;
    for (let left = this.#members.size; member !== undefined && left > 0; left--) {
      yield member;
      member = member.next;
    }
  }

  /** Add a member last in the rotation: just before the one whose turn it is. */
  join(clientId: string, value: T): Member<T> {
    const member = new Member(clientId, value, this);
    const cursor = this.#cursor;
    if (cursor === undefined) {
      this.#cursor = member;
    } else {
      member.next = cursor;
      member.prev = cursor.prev;
      cursor.prev.next = member;
      cursor.prev = member;
    }
    this.#members.set(clientId, member);
    return member;
  }

  leave(member: Member<T>): void {
    if (this.#members.get(member.clientId) !== member) return;
    this.#members.delete(member.clientId);
    if (member.next === member) {
      this.#cursor = undefined;
    } else {
      if (this.#cursor === member) this.#cursor = member.next;
      member.prev.next = member.next;
      member.next.prev = member.prev;
    }
    member.next = member;
    member.prev = member;
  }
}
