/**
 * A throwaway PKI made by `openssl` at test time: a CA, a server certificate for
 * `localhost`/`127.0.0.1`, and client certificates with chosen subjects, as PEM files in a
 * temporary directory removed after the test.
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

interface After {
  after(fn: () => void | Promise<void>): void;
}

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Why PKI tests must be skipped, or `false`. Under `CI=true` a missing openssl fails them. */
export const pkiSkip: string | false = hasOpenssl() || process.env.CI === "true"
  ? false
  : "openssl not found";

/** One key pair and certificate, as files and PEM text. */
export interface Issued {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

/** A CA that issues server and client certificates. */
export interface Pki {
  dir: string;
  caFile: string;
  ca: string;
  /** A server certificate for localhost and 127.0.0.1. */
  server: Issued;
  /** Issue a server certificate for other names (`san`, e.g. `DNS:wrong.example`). */
  serverFor(name: string, san: string): Issued;
  /** Issue a client certificate with this subject (e.g. `/C=GB/O=mq/CN=dev1`). */
  client(name: string, subject: string): Issued;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * Make a CA (named `caName`) with a server certificate, in a temporary directory removed
 * after the test.
 */
export function makePki(t: After, caName = "mq test CA"): Pki {
  const dir = mkdtempSync(join(tmpdir(), "mq-pki-"));
  // Readable by a broker that drops root for its own user (Debian's mosquitto).
  chmodSync(dir, 0o755);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ssl = (args: string[]) => execFileSync("openssl", args, { stdio: "pipe", cwd: dir });
  ssl([
    "req",
    "-x509",
    ...EC,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    `/CN=${caName}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const issue = (name: string, subject: string, extensions: string): Issued => {
    writeFileSync(join(dir, `${name}.ext`), extensions);
    ssl(["req", "-new", ...EC, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject]);
    ssl([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ]);
    chmodSync(join(dir, `${name}.key`), 0o644);
    const certFile = join(dir, `${name}.pem`);
    const keyFile = join(dir, `${name}.key`);
    return {
      certFile,
      keyFile,
      cert: readFileSync(certFile, "utf8"),
      key: readFileSync(keyFile, "utf8"),
    };
  };
  const serverFor = (name: string, san: string): Issued =>
    issue(
      name,
      `/CN=${name}`,
      `subjectAltName=${san}\nbasicConstraints=critical,CA:FALSE\n` +
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
  const server = serverFor("localhost", "DNS:localhost,IP:127.0.0.1");
  const caFile = join(dir, "ca.pem");
  return {
    dir,
    caFile,
    ca: readFileSync(caFile, "utf8"),
    server,
    serverFor,
    client: (name, subject) =>
      issue(
        name,
        subject,
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" +
          "extendedKeyUsage=clientAuth\n",
      ),
  };
}
