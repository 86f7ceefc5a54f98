/**
 * The browser bundle in a real browser: Debian's headless Chromium, driven by
 * `playwright-core`, loads a page that imports the bundle of `client/browser.ts` (built
 * like `scripts/bundle_size.ts` measures it), connects over `ws://` to the in-process
 * broker's WebSocket listener, subscribes, publishes and receives.
 *
 * Never downloads a browser: without `/usr/bin/chromium` the test is skipped, except on CI
 * (`CI=true`), where it fails.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type Browser, chromium } from "playwright-core";
import { startBroker } from "../../broker/broker.ts";
import type * as Mq from "../../client/browser.ts";
import { bundleBrowserClient } from "./_bundle.ts";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];
/** Ms each step in the page (connect, publish, subscribe, receive) may take. */
const STEP_TIMEOUT = 10_000;
const CLIENT_ID = "chromium-page";

const hasChromium = existsSync(CHROMIUM);
const onCi = process.env.CI === "true";
const skip = hasChromium || onCi
  ? false
  : `${CHROMIUM} is not installed (apt-get install chromium)`;

/** A message as the page saw it. */
interface Received {
  topic: string;
  payload: string;
  qos: number;
}

/** What the page reports back. */
interface PageResult {
  received: Received[];
  grantedQos: number[];
  qos1ReasonCode: number;
  nodeDeliveries: number;
  userAgent: string;
}

/** The globals of the test page. */
interface PageGlobals {
  mq: typeof Mq;
  mqNodePublish(topic: string, payload: string): Promise<number>;
  navigator: { userAgent: string };
}

/**
 * Runs inside the page (serialised by playwright): connect, subscribe, publish QoS 0 and 1,
 * have Node publish through the broker, publish a message for Node, and wait for the
 * three messages of the subscription.
 */
async function scenario(
  args: { url: string; clientId: string; timeout: number },
): Promise<PageResult> {
  const page = globalThis as unknown as PageGlobals;
  const client = await page.mq.connect(args.url, {
    clientId: args.clientId,
    reconnect: false,
    connectTimeout: args.timeout,
    timeout: args.timeout,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const received: Received[] = [];
    let gotAll: () => void = () => {};
    const allReceived = new Promise<void>((resolve, reject) => {
      gotAll = resolve;
      timer = setTimeout(
        () => reject(new Error(`Timed out: received ${JSON.stringify(received)}`)),
        args.timeout,
      );
    });
    const sub = await client.subscribe("browser/#", {
      qos: 1,
      onMessage: (message) => {
        received.push({
          topic: message.topic,
          payload: new TextDecoder().decode(message.payload),
          qos: message.qos,
        });
        if (received.length === 3) gotAll();
      },
    });
    await client.publish("browser/qos0", "zero", { qos: 0 });
    const puback = await client.publish("browser/qos1", "one", { qos: 1 });
    const nodeDeliveries = await page.mqNodePublish("browser/node", "from node");
    await client.publish("to-node/hello", "hello from chromium", { qos: 1 });
    await allReceived;
    await sub.unsubscribe();
    return {
      received,
      grantedQos: [...sub.reasonCodes],
      qos1ReasonCode: puback.reasonCode,
      nodeDeliveries,
      userAgent: page.navigator.userAgent,
    };
  } finally {
    clearTimeout(timer);
    await client.end();
  }
}

/** Reject after `ms` unless `promise` settles first. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function pageHtml(bundleFile: string): string {
  return `<!doctype html>
<meta charset="utf-8">
<title>mq browser test</title>
<script type="module">
  import * as mq from "./${bundleFile}";
  globalThis.mq = mq;
</script>
`;
}

async function serve(files: Map<string, { type: string; body: string }>): Promise<Server> {
  const server = createServer((request, response) => {
    const file = files.get(new URL(request.url ?? "/", "http://localhost").pathname);
    if (file === undefined) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": file.type, "cache-control": "no-store" });
    response.end(file.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return server;
}

test("the browser bundle has no Node, Deno or Bun references", { timeout: 60_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), "mq-browser-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { text } = bundleBrowserClient(dir);
  assert.ok(text.length > 0);
  assert.doesNotMatch(text, /["'`]node:[a-z_/]+["'`]/);
  assert.doesNotMatch(text, /\b(?:Deno|Bun|process)\s*[.[]/);
  assert.doesNotMatch(text, /\brequire\s*\(/);
});

test("connect() in Chromium publishes and receives over ws://", {
  skip,
  timeout: 90_000,
}, async (t) => {
  assert.ok(hasChromium, `${CHROMIUM} is missing on CI`);
  const cleanups: (() => unknown)[] = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) {
      await within(Promise.resolve().then(cleanup), 15_000, "cleanup").catch(() => {});
    }
  });

  const dir = mkdtempSync(join(tmpdir(), "mq-browser-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = bundleBrowserClient(dir);
  const files = new Map([
    ["/", { type: "text/html; charset=utf-8", body: pageHtml(bundle.file) }],
    [`/${bundle.file}`, { type: "text/javascript; charset=utf-8", body: bundle.text }],
  ]);
  const http = await within(serve(files), 10_000, "http server");
  cleanups.push(() => {
    http.closeAllConnections();
    return new Promise<void>((resolve) => http.close(() => resolve()));
  });
  const httpAddress = http.address();
  assert.ok(httpAddress !== null && typeof httpAddress === "object");

  const broker = await within(
    startBroker({
      listeners: [{ hostname: "127.0.0.1", port: 0, protocol: "websockets" }],
      sysInterval: 0,
    }),
    10_000,
    "broker",
  );
  cleanups.push(() => broker.close());
  const seen: Received[] = [];
  broker.on("publish", ({ clientId, packet }) => {
    if (clientId !== CLIENT_ID) return;
    const payload = new TextDecoder().decode(packet.payload);
    seen.push({ topic: packet.topic, payload, qos: packet.qos });
  });

  const transports: string[] = [];
  broker.on("connect", (event) => transports.push(event.remoteAddress.transport));
  const url = `ws://127.0.0.1:${broker.addresses[0]!.port}/mqtt`;

  // launch() gives Chromium a fresh temporary profile (--user-data-dir) and removes it on close.
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  await page.exposeFunction(
    "mqNodePublish",
    (topic: string, payload: string) => broker.publish(topic, payload, { qos: 1 }),
  );
  await page.goto(`http://127.0.0.1:${httpAddress.port}/`, { timeout: STEP_TIMEOUT });
  await page.waitForFunction(() => (globalThis as { mq?: unknown }).mq !== undefined, undefined, {
    timeout: STEP_TIMEOUT,
  });

  const result: PageResult = await within(
    page.evaluate(scenario, { url, clientId: CLIENT_ID, timeout: STEP_TIMEOUT }),
    4 * STEP_TIMEOUT,
    "the page's scenario",
  );

  assert.deepEqual(pageErrors, []);
  assert.match(result.userAgent, /Chrome\//);
  assert.deepEqual(result.grantedQos, [1]);
  assert.equal(result.qos1ReasonCode, 0);
  assert.equal(result.nodeDeliveries, 1);
  const byTopic = (a: Received, b: Received) => a.topic.localeCompare(b.topic);
  assert.deepEqual([...result.received].sort(byTopic), [
    { topic: "browser/node", payload: "from node", qos: 1 },
    { topic: "browser/qos0", payload: "zero", qos: 0 },
    { topic: "browser/qos1", payload: "one", qos: 1 },
  ]);
  assert.deepEqual(seen, [
    { topic: "browser/qos0", payload: "zero", qos: 0 },
    { topic: "browser/qos1", payload: "one", qos: 1 },
    { topic: "to-node/hello", payload: "hello from chromium", qos: 1 },
  ]);
  assert.deepEqual(transports, ["websocket"]);
});
