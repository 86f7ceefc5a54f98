/**
 * `@mqx/mq` as documentation examples see it: the package, with `connect()` from
 * `_docs_runtime.ts`.
 *
 * @module
 */
export * from "../../mod.ts";
export { connect } from "./_docs_runtime.ts";
