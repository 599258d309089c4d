// Certificates made with openssl for the TLS tests, and GraphQL over HTTPS with a given CA.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA (`<name>.key` + self-signed `<name>.crt`) in `dir`. */
export function makeCa(dir: string, name: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-subj', `/CN=${name}`]);
}

/** `server.key` and `server.crt` in `dir`, for 127.0.0.1 and localhost, signed by the CA `ca` of `dir`. */
export function makeServerCert(dir: string, ca: string): void {
  const path = (name: string): string => join(dir, name);
  writeFileSync(path('san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', path('server.key'), '-out', path('server.csr'), '-subj', '/CN=127.0.0.1']);
  openssl(['x509', '-req', '-in', path('server.csr'), '-CA', path(`${ca}.crt`), '-CAkey', path(`${ca}.key`), '-CAcreateserial',
    '-days', '1', '-extfile', path('san.cnf'), '-out', path('server.crt')]);
}

/** One GraphQL POST over HTTPS, verifying the server against `ca` (PEM) or the system's CAs. */
export function httpsGql(url: string, token: string, query: string, variables: Record<string, unknown> = {}, ca?: string): Promise<{ data?: Record<string, unknown>; errors?: unknown[] }> {
  const body = JSON.stringify({ query, variables });
  return new Promise((done, fail) => {
    const req = httpsRequest(
      url,
      { method: 'POST', ca, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => done(JSON.parse(text) as { data?: Record<string, unknown> }));
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}
