// A small bearer-token server for the test registry (the Docker token flow):
// GET realm?service=&scope= (optionally with Basic credentials) returns a JWT the
// registry trusts; POST with grant_type=refresh_token serves identity tokens.
// Tokens are ES256 JWTs carrying the granted `access`; the header's `x5c` holds
// the self-signed certificate, which the registry also has as its root bundle
// (distribution 2.8 verifies x5c against auth.token.rootcertbundle).
import { randomBytes, sign as cryptoSign, X509Certificate } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TokenServerOptions {
  service: string;
  issuer: string;
  /** PEM private key (EC P-256) and its self-signed certificate. */
  keyPem: string;
  certPem: string;
  /** username → password. Without users everyone (anonymous) gets what they ask for. */
  users?: Record<string, string>;
  /** With users: anonymous requests still get pull access. */
  anonymousPull?: boolean;
  /** OAuth2 refresh tokens (Docker's "identitytoken") → username. */
  identityTokens?: Record<string, string>;
  /** Seconds a token lives. */
  ttl?: number;
}

export interface TokenRequestLog {
  method: string;
  user?: string;
  scopes: string[];
  granted: boolean;
}

export interface TokenServer {
  realm: string;
  requests: TokenRequestLog[];
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

interface Access {
  type: string;
  name: string;
  actions: string[];
}

/** "repository:ns/name:pull,push" → Access (names may not contain ':', types may carry a class in parens). */
function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first === -1 || last === first) return undefined;
  return { type: scope.slice(0, first).replace(/\(.*\)$/, ''), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

function signJwt(opts: TokenServerOptions, subject: string, access: Access[], ttl: number): { token: string; issuedAt: Date } {
  const cert = new X509Certificate(opts.certPem);
  const header = { typ: 'JWT', alg: 'ES256', x5c: [cert.raw.toString('base64')] };
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: opts.issuer,
    sub: subject,
    aud: opts.service,
    exp: now + ttl,
    nbf: now - 1,
    iat: now,
    jti: randomBytes(12).toString('hex'),
    access,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  // JWS ES256 wants the raw r||s signature, not DER.
  const sig = cryptoSign('sha256', Buffer.from(input), { key: opts.keyPem, dsaEncoding: 'ieee-p1363' });
  return { token: `${input}.${b64url(sig)}`, issuedAt: new Date(now * 1000) };
}

function parseBasic(h: string | undefined): { user: string; pass: string } | undefined {
  if (!h || !/^basic /i.test(h)) return undefined;
  const raw = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
  const i = raw.indexOf(':');
  return i === -1 ? undefined : { user: raw.slice(0, i), pass: raw.slice(i + 1) };
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const requests: TokenRequestLog[] = [];
  const ttl = opts.ttl ?? 300;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      let params = url.searchParams;
      if (req.method === 'POST') params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const scopes = params.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
      const deny = (status: number, msg: string, user?: string): void => {
        requests.push({ method: req.method ?? 'GET', user, scopes, granted: false });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: status === 401 ? 'UNAUTHORIZED' : 'DENIED', message: msg }] }));
      };
      if (params.get('service') !== opts.service) return deny(400, 'unknown service');
      let user: string | undefined;
      if (req.method === 'POST') {
        if (params.get('grant_type') !== 'refresh_token') return deny(400, 'unsupported grant_type');
        user = opts.identityTokens?.[params.get('refresh_token') ?? ''];
        if (!user) return deny(401, 'invalid refresh token');
      } else {
        const basic = parseBasic(req.headers.authorization);
        if (basic) {
          if (!opts.users || opts.users[basic.user] !== basic.pass) return deny(401, 'invalid username or password', basic.user);
          user = basic.user;
        }
      }
      const anonymousAll = !opts.users || Object.keys(opts.users).length === 0;
      const access: Access[] = [];
      for (const s of scopes) {
        const a = parseScope(s);
        if (!a) continue;
        if (user || anonymousAll) access.push(a);
        else if (opts.anonymousPull && a.actions.includes('pull')) access.push({ ...a, actions: ['pull'] });
      }
      const { token, issuedAt } = signJwt(opts, user ?? '', access, ttl);
      requests.push({ method: req.method ?? 'GET', user, scopes, granted: access.length > 0 });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token, access_token: token, expires_in: ttl, issued_at: issuedAt.toISOString() }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
