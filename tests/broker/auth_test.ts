/**
 * Authentication through `BrokerOptions.authenticate`: user name and password, MQTT 5
 * enhanced authentication with a toy SCRAM-like challenge and response (v5 §4.12),
 * re-authentication, and the problem information rules for what the hook says.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import type { AuthContext, AuthResult, BrokerOptions } from "../../broker/types.ts";
import { brokerFor, bytes, RawClient, text } from "./_client.ts";

const T = { timeout: 10_000 };
const METHOD = "TOY-SCRAM";
const USERS = new Map([["alice", "wonderland"]]);

async function digest(s: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new Uint8Array(bytes(s)));
  return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function field(data: Uint8Array | undefined, name: string): string | undefined {
  for (const part of text(data ?? new Uint8Array()).split(",")) {
    if (part.startsWith(`${name}=`)) return part.slice(name.length + 1);
  }
  return undefined;
}

interface ScramState {
  user: string;
  nonce: string;
}

/**
 * A toy SCRAM: the client sends `n=user,r=clientNonce`; the server answers AUTH 0x18 with
 * `r=clientNonce+serverNonce`; the client proves it knows the password with
 * `p=sha256(password:nonce)`; the server accepts with `v=sha256(nonce:password)`.
 */
async function toyScram(context: AuthContext): Promise<AuthResult> {
  if (context.method !== METHOD) {
    // Plain CONNECT: user name and password.
    const password = USERS.get(context.username ?? "");
    if (password === undefined) return false;
    return text(context.password ?? new Uint8Array()) === password ||
      { outcome: "refuse", reasonCode: 0x86 };
  }
  const state = context.state as ScramState | undefined;
  if (context.step === 0) {
    const user = field(context.data, "n") ?? "";
    const clientNonce = field(context.data, "r");
    if (!USERS.has(user) || clientNonce === undefined) {
      return { outcome: "refuse", reasonCode: 0x86, reasonString: "Unknown user" };
    }
    const nonce = `${clientNonce}${context.reauthenticate ? "R" : "S"}${context.clientId}`;
    return {
      outcome: "continue",
      data: bytes(`r=${nonce}`),
      state: { user, nonce },
      reasonString: "Prove it",
    };
  }
  const password = USERS.get(state!.user)!;
  if (field(context.data, "p") !== await digest(`${password}:${state!.nonce}`)) {
    return { outcome: "refuse", reasonCode: 0x87, reasonString: "Wrong proof" };
  }
  return { outcome: "accept", data: bytes(`v=${await digest(`${state!.nonce}:${password}`)}`) };
}

const scram: BrokerOptions = { authenticate: toyScram, authenticationMethods: [METHOD] };

// The client side of one toy SCRAM exchange after CONNECT (or AUTH 0x19): answers the
// challenge and returns the server's final properties check value.
async function answerChallenge(c: RawClient, password: string): Promise<string> {
  const challenge = await c.next("auth");
  assert.equal(challenge.reasonCode, 0x18);
  assert.equal(challenge.properties?.authenticationMethod, METHOD);
  const nonce = field(challenge.properties?.authenticationData, "r")!;
  c.send({
    type: "auth",
    reasonCode: 0x18,
    properties: {
      authenticationMethod: METHOD,
      authenticationData: bytes(`p=${await digest(`${password}:${nonce}`)}`),
    },
  });
  return nonce;
}

function scramConnect(c: RawClient, clientId: string, user = "alice"): void {
  c.send({
    type: "connect",
    protocolVersion: 5,
    clientId,
    clean: true,
    keepAlive: 0,
    properties: { authenticationMethod: METHOD, authenticationData: bytes(`n=${user},r=abc`) },
  });
}

describe("broker authentication", () => {
  test(
    "startBroker() runs a multi-step enhanced authentication: AUTH 0x18 with the method, then CONNACK with the method and data (v5) [MQTT-4.12.0-2] [MQTT-4.12.0-5] [MQTT-3.15.2-1] [MQTT-3.2.0-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t, scram);
      const c = RawClient.memory(t, broker, 5);
      scramConnect(c, "sc1");
      // Packets sent before CONNACK wait for the decision.
      c.send({ type: "pingreq" });
      const nonce = await answerChallenge(c, "wonderland");
      const connack = await c.next("connack");
      assert.equal(connack.reasonCode, 0);
      assert.equal(connack.properties?.authenticationMethod, METHOD);
      assert.equal(
        field(connack.properties?.authenticationData, "v"),
        await digest(`${nonce}:wonderland`),
      );
      await c.next("pingresp");
      assert.equal(broker.client("sc1")?.connected, true);
    },
  );

  test(
    "startBroker() refuses a failed enhanced authentication with the hook's code and closes (v5) [MQTT-4.12.0-4] [MQTT-3.1.4-2] [MQTT-3.2.2-6] [MQTT-3.2.2-7]",
    T,
    async (t) => {
      const broker = await brokerFor(t, scram);
      const c = RawClient.memory(t, broker, 5);
      scramConnect(c, "sc2");
      await answerChallenge(c, "guess");
      const connack = await c.next("connack");
      assert.equal(connack.reasonCode, 0x87);
      assert.equal(connack.sessionPresent, false);
      assert.equal(connack.properties?.reasonString, "Wrong proof");
      await c.whenClosed();
      const d = RawClient.memory(t, broker, 5);
      scramConnect(d, "sc3", "mallory");
      assert.equal((await d.next("connack")).reasonCode, 0x86);
      await d.whenClosed();
      assert.equal(broker.client("sc2"), undefined);
    },
  );

  test(
    "startBroker() refuses an unsupported authentication method with CONNACK 0x8C, with or without a hook (v5) [MQTT-4.12.0-1]",
    T,
    async (t) => {
      for (const withHook of [false, true]) {
        let called = 0;
        const hook: BrokerOptions = {
          authenticationMethods: [METHOD],
          authenticate: () => {
            called++;
            return true;
          },
        };
        const broker = await brokerFor(t, withHook ? hook : {});
        const c = RawClient.memory(t, broker, 5);
        const connack = await c.connect("m", { properties: { authenticationMethod: "OTHER" } });
        assert.equal(connack.reasonCode, 0x8c);
        await c.whenClosed();
        assert.equal(called, 0);
      }
    },
  );

  test(
    "startBroker() sends no AUTH and no method in CONNACK without an authentication method (v5) [MQTT-4.12.0-6]",
    T,
    async (t) => {
      const broker = await brokerFor(t, scram);
      const c = RawClient.memory(t, broker, 5);
      c.send({
        type: "connect",
        protocolVersion: 5,
        clientId: "plain",
        clean: true,
        keepAlive: 0,
        username: "alice",
        password: bytes("wonderland"),
      });
      const connack = await c.next("connack"); // not an AUTH
      assert.equal(connack.reasonCode, 0);
      assert.equal(connack.properties?.authenticationMethod, undefined);
      assert.equal(connack.properties?.authenticationData, undefined);
    },
  );

  test(
    "startBroker() answers AUTH from a client that sent no authentication method with DISCONNECT 0x82 (v5) [MQTT-4.12.0-7]",
    T,
    async (t) => {
      const broker = await brokerFor(t);
      const c = RawClient.memory(t, broker, 5);
      await c.connect("noauth");
      c.send({ type: "auth", reasonCode: 0x19, properties: { authenticationMethod: METHOD } });
      assert.equal((await c.next("disconnect")).reasonCode, 0x82);
      await c.whenClosed();
    },
  );

  test(
    "startBroker() re-authenticates a connected client: AUTH 0x19, 0x18 and AUTH 0x00 with the method (v5) [MQTT-4.12.0-2] [MQTT-4.12.0-5] [MQTT-3.15.2-1]",
    T,
    async (t) => {
      const contexts: AuthContext[] = [];
      const broker = await brokerFor(t, {
        ...scram,
        authenticate: (context) => {
          contexts.push(context);
          return toyScram(context);
        },
      });
      const c = RawClient.memory(t, broker, 5);
      scramConnect(c, "re");
      await answerChallenge(c, "wonderland");
      assert.equal((await c.next("connack")).reasonCode, 0);
      await c.subscribe(["re/#"]);
      c.send({
        type: "auth",
        reasonCode: 0x19,
        properties: { authenticationMethod: METHOD, authenticationData: bytes("n=alice,r=xyz") },
      });
      // Messages keep flowing during a re-authentication.
      broker.publish("re/1", "during");
      assert.equal(text((await c.next("publish")).payload), "during");
      const nonce = await answerChallenge(c, "wonderland");
      const done = await c.next("auth");
      assert.equal(done.reasonCode, 0);
      assert.equal(done.properties?.authenticationMethod, METHOD);
      assert.equal(
        field(done.properties?.authenticationData, "v"),
        await digest(`${nonce}:wonderland`),
      );
      assert.deepEqual(contexts.map((x) => [x.step, x.reauthenticate]), [
        [0, false],
        [1, false],
        [0, true],
        [1, true],
      ]);
      assert.equal(contexts[2]!.clientId, "re");
      broker.publish("re/2", "after");
      assert.equal(text((await c.next("publish")).payload), "after");
    },
  );

  test(
    "startBroker() closes the connection when re-authentication fails, with DISCONNECT and the hook's code (v5) [MQTT-4.12.1-2]",
    T,
    async (t) => {
      const broker = await brokerFor(t, scram);
      const c = RawClient.memory(t, broker, 5);
      scramConnect(c, "re-fail");
      await answerChallenge(c, "wonderland");
      await c.next("connack");
      c.send({
        type: "auth",
        reasonCode: 0x19,
        properties: { authenticationMethod: METHOD, authenticationData: bytes("n=alice,r=1") },
      });
      await answerChallenge(c, "forgotten");
      const disconnect = await c.next("disconnect");
      assert.equal(disconnect.reasonCode, 0x87);
      assert.equal(disconnect.properties?.reasonString, "Wrong proof");
      await c.whenClosed();
    },
  );

  test(
    "startBroker() treats AUTH with another method or an unexpected reason code as a protocol error (v5) [MQTT-4.12.1-1]",
    T,
    async (t) => {
      const broker = await brokerFor(t, scram);
      const c = RawClient.memory(t, broker, 5);
      scramConnect(c, "other-method");
      await answerChallenge(c, "wonderland");
      await c.next("connack");
      c.send({ type: "auth", reasonCode: 0x19, properties: { authenticationMethod: "OTHER" } });
      assert.equal((await c.next("disconnect")).reasonCode, 0x82);
      await c.whenClosed();
      // AUTH 0x18 when no step waits for the client, before CONNACK: CONNACK 0x82.
      const d = RawClient.memory(t, broker, 5);
      scramConnect(d, "early");
      await d.next("auth");
      d.send({ type: "auth", reasonCode: 0x19, properties: { authenticationMethod: METHOD } });
      assert.equal((await d.next("connack")).reasonCode, 0x82);
      await d.whenClosed();
    },
  );

  for (const version of [3, 4, 5] as const) {
    test(
      `startBroker() checks user name and password through the hook on protocol level ${version}`,
      T,
      async (t) => {
        const contexts: AuthContext[] = [];
        const broker = await brokerFor(t, {
          authenticate: (context) => {
            contexts.push(context);
            return toyScram(context);
          },
        });
        const attempt = async (username: string | undefined, password: string) => {
          const c = RawClient.memory(t, broker, version);
          const options = username === undefined ? {} : { username, password: bytes(password) };
          const connack = await c.connect(`u${version}`, options);
          if (connack.reasonCode !== 0) await c.whenClosed();
          return connack.reasonCode;
        };
        assert.equal(await attempt("alice", "wonderland"), 0);
        // 0x86 bad user name or password is return code 4 on MQTT 3.x; 0x87 is 5.
        assert.equal(await attempt("alice", "nope"), version === 5 ? 0x86 : 4);
        assert.equal(await attempt(undefined, ""), version === 5 ? 0x87 : 5);
        assert.equal(contexts[0]!.username, "alice");
        assert.equal(text(contexts[0]!.password!), "wonderland");
        assert.equal(contexts[0]!.clientId, `u${version}`);
        assert.equal(contexts[0]!.protocolVersion, version);
        assert.equal(contexts[0]!.step, 0);
      },
    );
  }

  test("startBroker() gives the hook the assigned id of an empty client id", T, async (t) => {
    let seen = "";
    const broker = await brokerFor(t, {
      authenticate: (context) => {
        seen = context.clientId;
        return true;
      },
    });
    const c = RawClient.memory(t, broker, 5);
    const connack = await c.connect("");
    assert.equal(seen, connack.properties?.assignedClientIdentifier);
    assert.match(seen, /^auto-/);
  });

  test(
    "startBroker() refuses with 0x80 (v5) or return code 3 (v3.1.1) when the hook throws or rejects",
    T,
    async (t) => {
      const broker = await brokerFor(t, {
        authenticate: (context) => {
          if (context.clientId === "sync") throw new Error("boom");
          return Promise.reject(new Error("later"));
        },
      });
      for (const [version, clientId, code] of [[5, "sync", 0x80], [4, "async", 3]] as const) {
        const c = RawClient.memory(t, broker, version);
        assert.equal((await c.connect(clientId)).reasonCode, code);
        await c.whenClosed();
      }
    },
  );

  test("startBroker() forgets a pending decision when the client goes away", T, async (t) => {
    let release!: (result: AuthResult) => void;
    let asked!: () => void;
    const waiting = new Promise<void>((resolve) => (asked = resolve));
    const broker = await brokerFor(t, {
      authenticate: () =>
        new Promise<AuthResult>((resolve) => {
          release = resolve;
          asked();
        }),
    });
    const c = RawClient.memory(t, broker, 4);
    c.send({ type: "connect", protocolVersion: 4, clientId: "gone", clean: true, keepAlive: 0 });
    await waiting;
    c.destroy();
    await c.whenClosed();
    release(true);
    await Promise.resolve();
    assert.equal(broker.client("gone"), undefined);
    assert.equal(broker.stats.clientsConnected, 0);
  });

  test(
    "startBroker() closes a connection whose authentication outlasts the connect timeout",
    T,
    async (t) => {
      const broker = await brokerFor(t, {
        connectTimeout: 1,
        authenticate: () => new Promise<AuthResult>(() => {}),
      });
      const c = RawClient.memory(t, broker, 5);
      c.send({ type: "connect", protocolVersion: 5, clientId: "slow", clean: true, keepAlive: 0 });
      await c.whenClosed();
      assert.equal(broker.client("slow"), undefined);
    },
  );
});

describe("broker problem and response information", () => {
  test(
    "startBroker() leaves Reason Strings out of AUTH when Request Problem Information is 0, but not out of CONNACK (v5) [MQTT-3.1.2-29]",
    T,
    async (t) => {
      const broker = await brokerFor(t, scram);
      const c = RawClient.memory(t, broker, 5);
      c.send({
        type: "connect",
        protocolVersion: 5,
        clientId: "rpi",
        clean: true,
        keepAlive: 0,
        properties: {
          requestProblemInformation: false,
          authenticationMethod: METHOD,
          authenticationData: bytes("n=alice,r=q"),
        },
      });
      const challenge = await c.next("auth");
      assert.equal(challenge.properties?.reasonString, undefined);
      assert.equal(challenge.properties?.authenticationMethod, METHOD);
      const nonce = field(challenge.properties?.authenticationData, "r")!;
      c.send({
        type: "auth",
        reasonCode: 0x18,
        properties: { authenticationMethod: METHOD, authenticationData: bytes(`p=${nonce}`) },
      });
      const connack = await c.next("connack");
      assert.equal(connack.reasonCode, 0x87);
      assert.equal(connack.properties?.reasonString, "Wrong proof"); // CONNACK may carry it
      // With problem information requested (the default) AUTH carries it.
      const d = RawClient.memory(t, broker, 5);
      scramConnect(d, "rpi1");
      assert.equal((await d.next("auth")).properties?.reasonString, "Prove it");
    },
  );

  test(
    "startBroker() drops Reason Strings that would exceed the client's Maximum Packet Size (v5) [MQTT-3.2.2-19] [MQTT-3.15.2-2] [MQTT-3.14.2-3]",
    T,
    async (t) => {
      const long = "x".repeat(200);
      const broker = await brokerFor(t, {
        authenticationMethods: [METHOD],
        authenticate: (context) =>
          context.reauthenticate
            ? { outcome: "refuse", reasonString: long }
            : context.step === 0
            ? { outcome: "continue", reasonString: long }
            : { outcome: "accept", reasonString: long },
      });
      const c = RawClient.memory(t, broker, 5);
      c.send({
        type: "connect",
        protocolVersion: 5,
        clientId: "small",
        clean: true,
        keepAlive: 0,
        properties: { maximumPacketSize: 128, authenticationMethod: METHOD },
      });
      const challenge = await c.next("auth");
      assert.equal(challenge.properties?.reasonString, undefined);
      assert.equal(challenge.properties?.authenticationMethod, METHOD);
      c.send({ type: "auth", reasonCode: 0x18, properties: { authenticationMethod: METHOD } });
      const connack = await c.next("connack");
      assert.equal(connack.reasonCode, 0);
      assert.equal(connack.properties?.reasonString, undefined);
      assert.equal(connack.properties?.authenticationMethod, METHOD);
      c.send({ type: "auth", reasonCode: 0x19, properties: { authenticationMethod: METHOD } });
      const disconnect = await c.next("disconnect");
      assert.equal(disconnect.reasonCode, 0x87);
      assert.equal(disconnect.properties?.reasonString, undefined);
      // Without the limit the reason string is sent.
      const d = RawClient.memory(t, broker, 5);
      d.send({
        type: "connect",
        protocolVersion: 5,
        clientId: "large",
        clean: true,
        keepAlive: 0,
        properties: { authenticationMethod: METHOD },
      });
      assert.equal((await d.next("auth")).properties?.reasonString, long);
    },
  );

  test(
    "startBroker() returns Response Information only when asked and configured (v5) [MQTT-3.1.2-28]",
    T,
    async (t) => {
      const plain = await brokerFor(t);
      const a = RawClient.memory(t, plain, 5);
      const none = await a.connect("a", { properties: { requestResponseInformation: true } });
      assert.equal(none.properties?.responseInformation, undefined); // like mosquitto
      const broker = await brokerFor(t, { responseInformation: (id) => `replies/${id}` });
      const b = RawClient.memory(t, broker, 5);
      const given = await b.connect("b", { properties: { requestResponseInformation: true } });
      assert.equal(given.properties?.responseInformation, "replies/b");
      const c = RawClient.memory(t, broker, 5);
      const unasked = await c.connect("c");
      assert.equal(unasked.properties?.responseInformation, undefined);
      const fixed = await brokerFor(t, { responseInformation: "replies" });
      const d = RawClient.memory(t, fixed, 5);
      const connack = await d.connect("d", { properties: { requestResponseInformation: true } });
      assert.equal(connack.properties?.responseInformation, "replies");
    },
  );
});
