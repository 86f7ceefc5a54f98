import { test } from "node:test";
import assert from "node:assert/strict";
import { Deadlines } from "./_deadlines.ts";

test("Deadlines.run() runs due deadlines earliest first and skips cancelled ones", () => {
  const deadlines = new Deadlines();
  const ran: number[] = [];
  for (const at of [50, 10, 40, 20, 30]) deadlines.add(at, () => ran.push(at));
  const cancelled = deadlines.add(15, () => ran.push(15));
  cancelled.cancel();
  assert.equal(deadlines.next(), 10);
  deadlines.run(35);
  assert.deepEqual(ran, [10, 20, 30]);
  assert.equal(deadlines.next(), 40);
  deadlines.clear();
  assert.equal(deadlines.next(), undefined);
});

test("Deadlines.run() handles deadlines added while running", () => {
  const deadlines = new Deadlines();
  const ran: string[] = [];
  deadlines.add(1, () => {
    ran.push("a");
    deadlines.add(2, () => ran.push("b"));
    deadlines.add(100, () => ran.push("late"));
  });
  deadlines.run(5);
  assert.deepEqual(ran, ["a", "b"]);
});
