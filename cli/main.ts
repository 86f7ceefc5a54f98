#!/usr/bin/env node
/**
 * The `mq` command-line entry. This file and the runtime adapters in socket/ are the only
 * places allowed to touch runtime globals; the work happens in `mq.ts`.
 *
 * @module
 */
import process from "node:process";
import { main } from "./mq.ts";

process.exitCode = await main(process.argv.slice(2), {
  onSignal(signal, handler) {
    process.on(signal, handler);
    return () => void process.off(signal, handler);
  },
});
