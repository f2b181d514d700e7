// The Docker token flow: ask the realm named by a Bearer challenge for a token
// for one scope. Basic credentials go as an Authorization header on a GET; an
// identity token (OAuth2 refresh token) is exchanged by POSTing a form, as
// Docker does. The answer is {token | access_token, expires_in}.
import type { Credential } from '../auth/keychain';
import { OcimountError } from '../errors';
import { readBody } from './body';
import { redactUrl, responseError } from './errors';
import { credentialProblem } from './credentials';
import type { Transport } from './transport';

/** The spec's default when the server gives no expires_in. */
export const DEFAULT_TOKEN_TTL_S = 60;
const TOKEN_BODY_CAP = 1024 * 1024;

export interface BearerToken {
  token: string;
  /** Date.now() after which the token should not be used. */
  expiresAt: number;
}

export interface TokenRequest {
  realm: string;
  service?: string;
  scope: string;
  credential?: Credential;
  registry: string;
}

export function basicHeader(username: string, password: string): string {
  return 'Basic ' + Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

/** When to stop using a token: its lifetime less a margin for the request in flight. */
export function tokenExpiry(now: number, expiresInS: number): number {
  const ms = expiresInS * 1000;
  return now + ms - Math.min(10_000, ms / 10);
}

/** One try: the registry request that needs the token retries the whole exchange. */
export async function fetchToken(transport: Transport, r: TokenRequest): Promise<BearerToken> {
  let url: URL;
  try {
    url = new URL(r.realm);
  } catch {
    throw new OcimountError('PROTOCOL', `${r.registry} named an unusable token realm "${r.realm.slice(0, 200)}"`);
  }
  const what = `a token for ${r.scope}`;
  const c = r.credential;
  const headers: Record<string, string> = { accept: 'application/json' };
  let method = 'GET';
  let body: string | undefined;
  if (c?.kind === 'identityToken') {
    method = 'POST';
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: c.token, client_id: 'ocimount', scope: r.scope });
    if (r.service) form.set('service', r.service);
    body = form.toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else {
    if (r.service) url.searchParams.set('service', r.service);
    url.searchParams.set('scope', r.scope);
    if (c?.kind === 'basic') {
      url.searchParams.set('account', c.username);
      headers.authorization = basicHeader(c.username, c.password);
    }
  }
  const res = await transport.send({ url, method, headers, body });
  const ctx = { what, registry: r.registry, url, idleMs: transport.idleMs };
  const status = res.statusCode ?? 0;
  if (status === 401 || status === 403) {
    res.resume();
    throw credentialProblem(r.registry, c, { status, url: redactUrl(url) });
  }
  if (status < 200 || status >= 300) {
    const errBody = await readBody(res, 64 * 1024, ctx).catch(() => Buffer.alloc(0));
    throw responseError(res, errBody, ctx);
  }
  const raw = await readBody(res, TOKEN_BODY_CAP, ctx);
  let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    doc = JSON.parse(raw.toString('utf8')) as typeof doc;
  } catch {
    throw new OcimountError('PROTOCOL', `the token server of ${r.registry} answered with something that is not JSON`, { url: redactUrl(url) });
  }
  const token = typeof doc.token === 'string' && doc.token ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : '';
  if (!token) throw new OcimountError('PROTOCOL', `the token server of ${r.registry} answered without a token`, { url: redactUrl(url) });
  const ttl = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : DEFAULT_TOKEN_TTL_S;
  return { token, expiresAt: tokenExpiry(Date.now(), ttl) };
}
