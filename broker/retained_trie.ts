// This module is browser compatible.
/**
 * The broker's retained messages: one message per Topic Name in a trie keyed by level
 * (ARCHITECTURE.md rule 7), so a subscribe with wildcards visits only the matching part of
 * the tree, whatever the total number of retained messages.
 *
 * Empty nodes are pruned on delete, so memory follows the live messages, not the churn.
 *
 * @module
 */

import { validateTopicName } from "../protocol/topic.ts";

const DOLLAR = 0x24;
/** Depth marker on the walk's stack: visit the node and its whole subtree. */
const SUBTREE = -1;

/**
 * Called by {@linkcode RetainedTrie.match} once per matching retained message.
 *
 * @param topic The message's Topic Name.
 * @param message The retained message.
 */
export type RetainedVisitor<M> = (topic: string, message: M) => void;

/**
 * Retained messages by Topic Name, matched against Topic Filters through a trie.
 *
 * @example Retain, match and delete
 * ```ts
 * import assert from "node:assert/strict";
 * import { RetainedTrie } from "./retained_trie.ts";
 * const retained = new RetainedTrie<string>();
 * retained.set("sport/tennis/score", "15-0");
 * retained.set("sport/golf/score", "-2");
 * retained.set("$SYS/uptime", "10");
 * const hits: string[] = [];
 * retained.match("sport/+/score", (topic, message) => hits.push(`${topic}=${message}`));
 * assert.deepEqual(hits.sort(), ["sport/golf/score=-2", "sport/tennis/score=15-0"]);
 * assert.equal(retained.delete("sport/golf/score"), true);
 * assert.equal(retained.size, 2);
 * ```
 *
 * @typeParam M The retained message type.
 */
export class RetainedTrie<M> {
  #root: RetainedNode<M> = new RetainedNode<M>(undefined, "");
  #size = 0;
  #nodeCount = 0;
  #visited = 0;
  // Reused across calls; each call works above the length it found, so a visitor may match again.
  #stack: RetainedNode<M>[] = [];
  #depth: number[] = [];

  /**
   * The number of retained messages.
   *
   * @example Count
   * ```ts
   * import assert from "node:assert/strict";
   * import { RetainedTrie } from "./retained_trie.ts";
   * const retained = new RetainedTrie<number>();
   * retained.set("a", 1);
   * retained.set("a", 2);
   * assert.equal(retained.size, 1);
   * ```
   *
   * @returns The count.
   */
  get size(): number {
    return this.#size;
  }

  /**
   * The number of trie nodes (the root excluded): zero once every message is deleted.
   *
   * @example Pruned on delete
   * ```ts
   * import assert from "node:assert/strict";
   * import { RetainedTrie } from "./retained_trie.ts";
   * const retained = new RetainedTrie<number>();
   * retained.set("a/b/c", 1);
   * assert.equal(retained.nodeCount, 3);
   * retained.delete("a/b/c");
   * assert.equal(retained.nodeCount, 0);
   * ```
   *
   * @returns The count.
   */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  /**
   * The total number of nodes visited by {@linkcode RetainedTrie.match} so far, to check its
   * cost in tests.
   *
   * @example One node per level
   * ```ts
   * import assert from "node:assert/strict";
   * import { RetainedTrie } from "./retained_trie.ts";
   * const retained = new RetainedTrie<number>();
   * retained.set("a/b", 1);
   * retained.set("z/b", 1);
   * retained.match("a/b", () => {});
   * assert.equal(retained.nodesVisited, 3); // the root, "a" and "a/b"
   * ```
   *
   * @returns The count.
   */
  get nodesVisited(): number {
    return this.#visited;
  }

  /**
   * Retain a message on a topic, replacing the one there.
   *
   * @example New, then replaced
   * ```ts
   * import assert from "node:assert/strict";
   * import { RetainedTrie } from "./retained_trie.ts";
   * const retained = new RetainedTrie<string>();
   * assert.equal(retained.set("a/b", "x"), true);
   * assert.equal(retained.set("a/b", "y"), false);
   * assert.equal(retained.get("a/b"), "y");
   * ```
   *
   * @param topic The Topic Name.
   * @param message The message.
   * @returns `true` when the topic had no retained message.
   * @throws {TypeError} When `topic` is not a valid Topic Name.
   * @throws {RangeError} When `topic` is too long.
   */
  set(topic: string, message: M): boolean {
    validateTopicName(topic);
    let node = this.#root;
    let start = 0;
    for (;;) {
      const slash = topic.indexOf("/", start);
      const level = slash === -1 ? topic.slice(start) : topic.slice(start, slash);
      const children = node.children ??= new Map();
      let child = children.get(level);
      if (child === undefined) {
        child = new RetainedNode(node, level);
        children.set(level, child);
        this.#nodeCount++;
      }
      node = child;
      if (slash === -1) break;
      start = slash + 1;
    }
    const added = node.topic === undefined;
    node.topic = topic;
    node.message = message;
    if (added) this.#size++;
    return added;
  }

  /**
   * The message retained on a topic.
   *
   * @example Look up
   * ```ts
   * import assert from "node:assert/strict";
   * import { RetainedTrie } from "./retained_trie.ts";
   * const retained = new RetainedTrie<string>();
   * retained.set("a/b", "x");
   * assert.equal(retained.get("a/b"), "x");
   * assert.equal(retained.get("a"), undefined);
   * ```
   *
   * @param topic The Topic Name.
   * @returns The message, or `undefined` when none is retained there.
   */
  get(topic: string): M | undefined {
    return this.#find(topic)?.message;
  }

  /**
   * Whether a message is retained on a topic.
   *
   * @example Look up
   * ```ts
   * import assert from "node:assert/strict";
   * import { RetainedTrie } from "./retained_trie.ts";
   * const retained = new RetainedTrie<undefined>();
   * retained.set("a", undefined);
   * assert.equal(retained.has("a"), true);
   * assert.equal(retained.has("b"), false);
   * ```
   *
   * @param topic The Topic Name.
   * @returns `true` when one is.
   */
  has(topic: string): boolean {
    return this.#find(topic)?.topic !== undefined;
  }

  /**
   * Delete the message retained on a topic (what a retained PUBLISH with an empty payload
   * does), pruning nodes left empty.
   *
   * @example Delete once
   * ```ts
   * import assert from "node:assert/strict";
   * import { RetainedTrie } from "./retained_trie.ts";
   * const retained = new RetainedTrie<string>();
   * retained.set("a/b", "x");
   * assert.equal(retained.delete("a/b"), true);
   * assert.equal(retained.delete("a/b"), false);
   * ```
   *
   * @param topic The Topic Name.
   * @returns `true` when a message was deleted.
   */
  delete(topic: string): boolean {
    let node: RetainedNode<M> | undefined = this.#find(topic);
    if (node === undefined || node.topic === undefined) return false;
    node.topic = undefined;
    node.message = undefined;
    this.#size--;
    // Remove the node and its ancestors while they hold nothing
    for (;;) {
      const parent: RetainedNode<M> | undefined = node.parent;
      if (parent === undefined || node.topic !== undefined || node.children !== undefined) break;
      const children = parent.children!;
      children.delete(node.key);
      if (children.size === 0) parent.children = undefined;
      this.#nodeCount--;
      node = parent;
    }
    return true;
  }

  /**
   * Visit the retained messages whose topic matches a Topic Filter, each once. `+` matches one
   * level, `#` its parent level and every level below, and a filter starting with `+` or `#`
   * does not match topics starting with `$` [MQTT-4.7.2-1]. The cost follows the matching part
   * of the tree, not the total.
   *
   * Pass a shared subscription's filter without its `$share/{ShareName}/` prefix. The visitor
   * may delete the message it is visiting; other changes made during the walk may or may not
   * be seen by it.
   *
   * @example Wildcards and `$` topics
   * ```ts
   * import assert from "node:assert/strict";
   * import { RetainedTrie } from "./retained_trie.ts";
   * const retained = new RetainedTrie<number>();
   * retained.set("sport", 1);
   * retained.set("sport/tennis", 2);
   * retained.set("$SYS/load", 3);
   * const topics: string[] = [];
   * retained.match("sport/#", (topic) => topics.push(topic));
   * assert.deepEqual(topics.sort(), ["sport", "sport/tennis"]);
   * topics.length = 0;
   * retained.match("#", (topic) => topics.push(topic));
   * assert.deepEqual(topics.sort(), ["sport", "sport/tennis"]);
   * ```
   *
   * @param filter A valid Topic Filter.
   * @param visit Called for each matching message.
   */
  match(filter: string, visit: RetainedVisitor<M>): void {
    const levels = filter.split("/");
    const n = levels.length;
    const stack = this.#stack;
    const depth = this.#depth;
    const base = stack.length;
    let visited = 0;
    stack.push(this.#root);
    depth.push(0);
    try {
      while (stack.length > base) {
        const node = stack.pop()!;
        const i = depth.pop()!;
        visited++;
        if (i === SUBTREE || i === n) {
          if (node.topic !== undefined) visit(node.topic, node.message as M);
          if (i === n || node.children === undefined) continue;
          for (const child of node.children.values()) {
            stack.push(child);
            depth.push(SUBTREE);
          }
          continue;
        }
        const level = levels[i]!;
        if (level === "#") {
          // "sport/#" matches "sport" (the root never holds a message)
          if (node.topic !== undefined) visit(node.topic, node.message as M);
          this.#pushChildren(node, i === 0, SUBTREE);
        } else if (level === "+") {
          this.#pushChildren(node, i === 0, i + 1);
        } else {
          const child = node.children?.get(level);
          if (child !== undefined) {
            stack.push(child);
            depth.push(i + 1);
          }
        }
      }
    } finally {
      stack.length = base;
      depth.length = base;
      this.#visited += visited;
    }
  }

  /**
   * Every retained message, for persistence; in no particular order.
   *
   * @example Dump
   * ```ts
   * import assert from "node:assert/strict";
   * import { RetainedTrie } from "./retained_trie.ts";
   * const retained = new RetainedTrie<number>();
   * retained.set("a", 1);
   * retained.set("a/b", 2);
   * assert.deepEqual(new Map(retained.entries()), new Map([["a", 1], ["a/b", 2]]));
   * ```
   *
   * @returns The (topic, message) pairs.
   */
  *entries(): IterableIterator<[topic: string, message: M]> {
    const stack: RetainedNode<M>[] = [this.#root];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      if (node.topic !== undefined) yield [node.topic, node.message as M];
      if (node.children !== undefined) {
        for (const child of node.children.values()) stack.push(child);
      }
    }
  }

  /**
   * The same as {@linkcode RetainedTrie.entries}.
   *
   * @example Spread
   * ```ts
   * import assert from "node:assert/strict";
   * import { RetainedTrie } from "./retained_trie.ts";
   * const retained = new RetainedTrie<number>();
   * retained.set("a", 1);
   * assert.deepEqual([...retained], [["a", 1]]);
   * ```
   *
   * @returns The (topic, message) pairs.
   */
  [Symbol.iterator](): IterableIterator<[topic: string, message: M]> {
    return this.entries();
  }

  /** Push `node`'s children, without `$` ones when `root` [MQTT-4.7.2-1]. */
  #pushChildren(node: RetainedNode<M>, root: boolean, depth: number): void {
    if (node.children === undefined) return;
    for (const child of node.children.values()) {
      if (root && child.key.charCodeAt(0) === DOLLAR) continue;
      this.#stack.push(child);
      this.#depth.push(depth);
    }
  }

  /** The node for `topic`, if there is one. */
  #find(topic: string): RetainedNode<M> | undefined {
    let node: RetainedNode<M> | undefined = this.#root;
    let start = 0;
    for (;;) {
      const slash = topic.indexOf("/", start);
      const level = slash === -1 ? topic.slice(start) : topic.slice(start, slash);
      node = node.children?.get(level);
      if (node === undefined || slash === -1) return node;
      start = slash + 1;
    }
  }
}

/** A trie node: one level of a Topic Name, holding the message when `topic` is set. */
class RetainedNode<M> {
  readonly parent: RetainedNode<M> | undefined;
  readonly key: string;
  children: Map<string, RetainedNode<M>> | undefined = undefined;
  /** The full Topic Name when a message is retained here. */
  topic: string | undefined = undefined;
  message: M | undefined = undefined;

  constructor(parent: RetainedNode<M> | undefined, key: string) {
    this.parent = parent;
    this.key = key;
  }
}
