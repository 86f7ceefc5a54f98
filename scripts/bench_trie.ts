/**
 * Micro-benchmark of the topic tries (not a test): publishes matched per second against
 * 10,000 and 100,000 subscriptions, and wildcard subscribes matched per second against as many
 * retained messages.
 *
 * Subscriptions look like an IoT deployment: 100 sites of 1,000 devices, with 60% exact
 * filters, 20% `+` on the device, 10% `#` on a site, 5% `+` on the site and 5% shared.
 *
 * Run: `deno run scripts/bench_trie.ts` or `bun scripts/bench_trie.ts`
 *
 * @module
 */
import { RetainedTrie } from "../broker/retained_trie.ts";
import { SubscriptionTrie } from "../broker/subscription_trie.ts";

const SITES = 100;
const DEVICES = 1000;

function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

function int(random: () => number, n: number): number {
  return Math.floor(random() * n);
}

function randomFilter(random: () => number): string {
  const s = int(random, SITES);
  const d = int(random, DEVICES);
  const r = random();
  if (r < 0.6) return `site/${s}/device/${d}/telemetry`;
  if (r < 0.8) return `site/${s}/device/+/telemetry`;
  if (r < 0.9) return `site/${s}/#`;
  if (r < 0.95) return `site/+/device/${d}/status`;
  return `$share/workers/site/${s}/device/+/telemetry`;
}

function randomTopic(random: () => number): string {
  const kind = random() < 0.8 ? "telemetry" : "status";
  return `site/${int(random, SITES)}/device/${int(random, DEVICES)}/${kind}`;
}

/** Run `fn` over `inputs` for about a second; returns calls per second. */
function rate(inputs: readonly string[], fn: (input: string) => void): number {
  for (let i = 0; i < inputs.length; i++) fn(inputs[i]!); // warm up
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < 1000) {
    for (let i = 0; i < inputs.length; i++) fn(inputs[i]!);
    calls += inputs.length;
    elapsed = performance.now() - start;
  }
  return calls / (elapsed / 1000);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US").padStart(12);
}

const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";
console.log(`bench_trie on ${runtime}`);

for (const count of [10_000, 100_000]) {
  const random = prng(count);
  const trie = new SubscriptionTrie<number>();
  for (let i = 0; i < count; i++) trie.add(`client${i}`, randomFilter(random), i);
  const topics = Array.from({ length: 10_000 }, () => randomTopic(random));
  let deliveries = 0;
  const visit = (): void => {
    deliveries++;
  };
  const publishes = rate(topics, (topic) => trie.match(topic, visit));
  let groups = 0;
  const visitShared = (): void => {
    groups++;
  };
  const both = rate(topics, (topic) => {
    trie.match(topic, visit);
    trie.matchShared(topic, visitShared);
  });
  // Matches per publish, counted once over the topic set
  deliveries = 0;
  groups = 0;
  for (const topic of topics) {
    trie.match(topic, visit);
    trie.matchShared(topic, visitShared);
  }
  const perPublish = deliveries / topics.length;
  console.log(
    `subscriptions ${fmt(count)} | match ${fmt(publishes)} publishes/s ` +
      `${fmt(publishes * perPublish)} matches/s (${perPublish.toFixed(1)} per publish) | ` +
      `with matchShared ${fmt(both)} publishes/s (${(groups / topics.length).toFixed(2)} groups)`,
  );
}

for (const count of [10_000, 100_000]) {
  const random = prng(count + 1);
  const retained = new RetainedTrie<number>();
  while (retained.size < count) retained.set(randomTopic(random), retained.size);
  const filters = Array.from({ length: 1000 }, () => {
    const s = int(random, SITES);
    return random() < 0.5
      ? `site/${s}/device/${int(random, DEVICES)}/+`
      : `site/${s}/device/+/status`;
  });
  let found = 0;
  const visit = (): void => {
    found++;
  };
  const subscribes = rate(filters, (filter) => retained.match(filter, visit));
  found = 0;
  for (const filter of filters) retained.match(filter, visit);
  const perSubscribe = found / filters.length;
  console.log(
    `retained      ${fmt(count)} | match ${fmt(subscribes)} subscribes/s ` +
      `${fmt(subscribes * perSubscribe)} matches/s (${perSubscribe.toFixed(1)} per subscribe)`,
  );
}
