/**
 * A registry token service for tests, working the way Docker Hub's does: `GET /token?service=…&scope=…`
 * with optional Basic credentials answers `{"token","access_token","expires_in","issued_at"}`. Tokens are
 * signed with an EC key whose self-signed certificate the reference registry trusts (`auth.token.
 * rootcertbundle`), by its libtrust key id. Anonymous callers get pull; the configured user gets pull and push.
 * Every request is recorded (with the Authorization header it carried), so tests can see who sent what.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { loadSigningKey } from '../../src/auth/token/keys.ts';
import { TokenIssuer } from '../../src/auth/token/tokens.ts';

export interface TokenService {
  url: string;
  /** The realm URL (`…/token`). */
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate for the registry's rootcertbundle. */
  certFile: string;
  requests: Array<{ scope: string | null; authorization: string | undefined }>;
  close(): Promise<void>;
}

export async function startTokenService(dir: string, opts: { host?: string; user?: string; password?: string; service?: string } = {}): Promise<TokenService> {
  const host = opts.host ?? '127.0.0.1';
  const keyFile = join(dir, `token-${host}.key`);
  const certFile = join(dir, `token-${host}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=test-token-service'], { stdio: 'ignore' });
  const service = opts.service ?? 'test-registry';
  const issuer = 'test-token-issuer';
  const issuer_ = new TokenIssuer(loadSigningKey(keyFile), issuer, service, 300_000, 300_000);
  const requests: TokenService['requests'] = [];
  const expected = opts.user !== undefined ? `Basic ${Buffer.from(`${opts.user}:${opts.password ?? ''}`).toString('base64')}` : undefined;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const authorization = req.headers.authorization;
    requests.push({ scope: url.searchParams.get('scope'), authorization });
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    if (authorization !== undefined && authorization !== expected) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"wrong credentials"}');
      return;
    }
    const access = url.searchParams.getAll('scope').flatMap((scope) => {
      const [type, name, actions] = [scope.slice(0, scope.indexOf(':')), scope.slice(scope.indexOf(':') + 1, scope.lastIndexOf(':')), scope.slice(scope.lastIndexOf(':') + 1)];
      if (type !== 'repository') return [];
      const granted = actions.split(',').filter((a) => a === 'pull' || (a === 'push' && authorization !== undefined));
      return [{ type, name, actions: granted }];
    });
    void issuer_.issue(authorization ? opts.user : undefined, access).then((issued) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  const url = `http://${host}:${port}`;
  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    certFile,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
