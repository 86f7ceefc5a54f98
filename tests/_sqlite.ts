/**
 * Whether the runtime has SQLite for the persistence store (Deno, Bun, Node 22.5+; not
 * Node 20), for tests to skip with the reason.
 *
 * @module
 */

let available = true;
try {
  await import("node:sqlite" as string);
} catch {
  available = false;
}

/** Whether `node:sqlite` can be imported here. */
export const hasSqlite: boolean = available;

/** The reason to skip a test that needs SQLite, or `false`. */
export const sqliteSkip: string | false = available
  ? false
  : "this runtime has no node:sqlite (Node before 22.5)";
