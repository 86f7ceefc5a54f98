/**
 * A throwaway certificate for the TLS conformance tests, made by `openssl` at test time.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { Context } from "./_harness.ts";

/** A private key and its self-signed certificate, PEM. */
export interface Credentials {
  cert: string;
  key: string;
}

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Why TLS tests must be skipped, or `false` to run them. In CI (`CI=true`) a missing
 * `openssl` is not a reason: the tests run and fail.
 */
export const opensslSkip: string | false = hasOpenssl() || process.env.CI === "true"
  ? false
  : "openssl not found";

/**
 * Make a P-256 key and a self-signed certificate for `localhost` and `127.0.0.1` in a
 * temporary directory, removed by `t.after()`. The certificate is not a CA (rustls, used
 * by Deno, refuses a CA certificate as a server certificate).
 */
export function makeCredentials(t: Context): Credentials {
  const dir = mkdtempSync(join(tmpdir(), "mq-tls-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyPath = join(dir, "key.pem");
  const certPath = join(dir, "cert.pem");
  execFileSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyPath,
    "-out",
    certPath,
    "-days",
    "2",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-addext",
    "keyUsage=critical,digitalSignature",
    "-addext",
    "extendedKeyUsage=serverAuth,clientAuth",
  ], { stdio: "pipe" });
  return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") };
}
