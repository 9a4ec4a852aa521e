/**
 * Certificates for TLS tests, made with `openssl`: a throwaway certificate
 * authority and a server certificate it signed (for `localhost` and `127.0.0.1`
 * unless told otherwise).
 * The client is given the authority's certificate as an extra root.
 *
 * @module
 */

/** A test authority and a server certificate. */
export interface TestCertificates {
  /** The authority's certificate, PEM: the extra root to trust. */
  readonly caPem: string;
  /** The server's certificate and key, PEM, and their files. */
  readonly certPem: string;
  readonly keyPem: string;
  readonly certFile: string;
  readonly keyFile: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
}

/**
 * Makes an authority and a server certificate for `names` in `dir`, valid for
 * two days.
 *
 * @param dir A temporary directory.
 * @param names The server's names: DNS names and IP addresses.
 * @returns The certificates.
 */
export async function makeTestCertificates(
  dir: string,
  names: readonly string[] = ["localhost", "127.0.0.1"],
): Promise<TestCertificates> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(dir, [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=Koi test authority",
  ]);
  await openssl(dir, [
    "req",
    ...ec,
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    `/CN=${names[0]}`,
  ]);
  const alternatives = names.map((name) => /^[0-9.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`);
  await Deno.writeTextFile(`${dir}/server.ext`, `subjectAltName=${alternatives.join(",")}\n`);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "server.ext",
  ]);
  return {
    caPem: await Deno.readTextFile(`${dir}/ca.pem`),
    certPem: await Deno.readTextFile(`${dir}/server.pem`),
    keyPem: await Deno.readTextFile(`${dir}/server.key`),
    certFile: `${dir}/server.pem`,
    keyFile: `${dir}/server.key`,
  };
}
