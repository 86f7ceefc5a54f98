/**
 * Differential tests: each scripted conversation of _cases.ts runs against Debian's
 * mosquitto 2.0.11 and against mq; the transcripts must be equal, except for the
 * differences documented in docs/differences.md, which are asserted exactly.
 */
import { describe, test } from "../_testing.ts";
import assert from "node:assert/strict";
import { mosquittoMissing, startMosquitto, startMq, transcript } from "./_harness.ts";
import { cases } from "./_cases.ts";

const skip = await mosquittoMissing();

describe("differential: mq against mosquitto 2.0.11", { skip }, () => {
  for (const c of cases) {
    test(c.name, { timeout: 20_000 }, async (t) => {
      const theirs = await transcript(
        t,
        await startMosquitto(t, c.mosquitto, c.mosquittoFiles),
        c.script,
      );
      const ours = await transcript(t, await startMq(t, c.mq), c.script);
      if (c.differs === undefined) {
        assert.deepEqual(ours, theirs);
      } else {
        assert.deepEqual(theirs, c.differs.mosquitto, "mosquitto changed");
        assert.deepEqual(ours, c.differs.mq, `see docs/differences.md#${c.differs.doc}`);
      }
    });
  }
});
