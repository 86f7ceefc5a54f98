/**
 * `node:test` with one Deno workaround. Deno 2.9 runs a test nested in `describe()` as a
 * step and never calls the `t.after()` hooks registered in it, so sockets, brokers and
 * child processes closed there would leak. Under Deno, `describe()` here flattens its tests
 * into top-level tests named `"<describe> > <test>"` (passing the describe's `skip`/`todo`
 * on to each); under Bun and Node it is `node:test`'s own.
 *
 * Test files import `describe`, `test` and `it` from here instead of `node:test`.
 *
 * @module
 */
import * as nodeTest from "node:test";

export type { TestContext } from "node:test";

type TestFn = (t: nodeTest.TestContext) => void | Promise<void>;
type SuiteFn = () => void | Promise<void>;
type Options = nodeTest.TestOptions;

const FLATTEN = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
let prefix = "";
let inherited: Options = {};

function split<F>(a: Options | F | undefined, b: F | undefined): [Options, F | undefined] {
  return typeof a === "function" ? [{}, a as F] : [(a as Options | undefined) ?? {}, b];
}

/**
 * Group tests; flattened under Deno (see the module doc).
 *
 * @param name The group name.
 * @param a Options or the body.
 * @param b The body when options are given.
 */
export function describe(name: string, a?: Options | SuiteFn, b?: SuiteFn): void {
  const [options, fn] = split<SuiteFn>(a, b);
  if (!FLATTEN) {
    void nodeTest.describe(name, options, fn);
    return;
  }
  const outerPrefix = prefix;
  const outerInherited = inherited;
  prefix = outerPrefix === "" ? name : `${outerPrefix} > ${name}`;
  inherited = { ...outerInherited };
  if (options.skip !== undefined && options.skip !== false) inherited.skip = options.skip;
  if (options.todo !== undefined && options.todo !== false) inherited.todo = options.todo;
  if (options.timeout !== undefined && inherited.timeout === undefined) {
    inherited.timeout = options.timeout;
  }
  try {
    void fn?.();
  } finally {
    prefix = outerPrefix;
    inherited = outerInherited;
  }
}

/**
 * Define a test; inside a flattened `describe()` its name gets the group's prefix.
 *
 * @param name The test name.
 * @param a Options or the body.
 * @param b The body when options are given.
 */
export function test(name: string, a?: Options | TestFn, b?: TestFn): void {
  const [options, fn] = split<TestFn>(a, b);
  if (!FLATTEN || prefix === "") {
    void nodeTest.test(name, options, fn);
    return;
  }
  void nodeTest.test(`${prefix} > ${name}`, { ...inherited, ...options }, fn);
}

/** Alias of {@linkcode test}. */
export const it: typeof test = test;

export { after, afterEach, before, beforeEach } from "node:test";
