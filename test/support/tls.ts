import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A PEM certificate and key, in files and in memory. */
export interface Issued {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

async function read(certFile: string, keyFile: string): Promise<Issued> {
  return { certFile, keyFile, cert: await readFile(certFile, "utf8"), key: await readFile(keyFile, "utf8") };
}

/** A certificate authority made for the test with the `openssl` command (EC P-256, valid two days). */
export async function createCertificateAuthority(dir: string, name: string): Promise<Issued> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await run("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", `/CN=${name}`],
    ...["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
  ]);
  return read(certFile, keyFile);
}

/**
 * A server and client certificate for 127.0.0.1 and localhost signed by `ca`, with the given serial
 * and common name, written to `{name}.crt` and `{name}.key` in `dir` (replacing files there).
 */
export async function issueCertificate(
  ca: Issued,
  dir: string,
  name: string,
  options: { serial: number; commonName?: string },
): Promise<Issued> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const request = join(dir, `${name}.csr`);
  const extensions = join(dir, `${name}.ext`);
  await writeFile(
    extensions,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  await run("openssl", [
    ...["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", keyFile, "-out", request, "-subj", `/CN=${options.commonName ?? name}`],
  ]);
  await run("openssl", [
    ...["x509", "-req", "-in", request, "-CA", ca.certFile, "-CAkey", ca.keyFile],
    ...["-set_serial", String(options.serial), "-days", "2", "-out", certFile, "-extfile", extensions],
  ]);
  return read(certFile, keyFile);
}
