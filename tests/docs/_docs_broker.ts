/**
 * `@mqx/mq/broker` as documentation examples see it: the package, with `startBroker()` from
 * `_docs_runtime.ts`.
 *
 * @module
 */
export * from "../../broker/mod.ts";
export { startBroker } from "./_docs_runtime.ts";
