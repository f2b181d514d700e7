// Requests to one repository on one registry: the ping that picks the scheme and
// learns the challenge (once per session), then each request with its
// Authorization, redirects, one re-authentication on a 401, error mapping and
// retries. What to do with a successful response is the caller's `handle`,
// which runs inside the retry loop (so a manifest cut short is fetched again).
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { debuglog } from 'node:util';
import { isOcimountError, OcimountError } from '../errors';
import { isLoopbackHost } from '../ref/reference';
import { Authenticator } from './auth';
import { DEFAULT_ATTEMPTS, DEFAULT_BACKOFF_MS } from './backoff';
import { readBody } from './body';
import { accessDenied, credentialProblem } from './credentials';
import { ERROR_BODY_CAP, redactUrl, responseError } from './errors';
import { sendFollowingRedirects } from './redirect';
import { withRetries } from './retry';
import type { RetryOptions } from './retry';
import { Transport } from './transport';
import type { RegistryClientOptions } from './types';

const debug = debuglog('ocimount:registry');

export interface SessionOptions extends RegistryClientOptions {
  /** Registry name ("docker.io", "127.0.0.1:5000"): keychain key and messages. */
  registry: string;
  /** Host:port that serves the API ("registry-1.docker.io" for docker.io). */
  apiHost: string;
  repository: string;
  /** Headers and body idle limit (tests shorten it). */
  idleTimeoutMs?: number;
}

export interface RequestSpec<T> {
  /** Path under the API root, starting with /v2/. */
  path: string;
  headers?: OutgoingHttpHeaders;
  /** "manifest ns/app:v1", for messages. */
  what: string;
  /** Turns a 2xx response into the result; may throw temporary errors to be retried. */
  handle: (res: IncomingMessage, url: URL) => Promise<T>;
}

export class Session {
  readonly registry: string;
  readonly repository: string;
  readonly transport: Transport;
  readonly auth: Authenticator;
  private readonly o: SessionOptions;
  private readonly retry: Omit<RetryOptions, 'what'>;
  /** Plain HTTP may be tried (insecure, or loopback as Docker allows). */
  private readonly httpAllowed: boolean;
  private base?: Promise<URL>;

  constructor(o: SessionOptions) {
    this.o = o;
    this.registry = o.registry;
    this.repository = o.repository;
    this.httpAllowed = !!o.insecure || isLoopbackHost(o.apiHost);
    this.transport = new Transport({ registry: o.registry, ca: o.ca, insecure: o.insecure, signal: o.signal, idleTimeoutMs: o.idleTimeoutMs });
    this.retry = { attempts: o.retries ?? DEFAULT_ATTEMPTS, backoffMs: o.backoffMs ?? DEFAULT_BACKOFF_MS, signal: this.transport.signal, log: o.log };
    this.auth = new Authenticator({ registry: o.registry, repository: o.repository, keychain: o.keychain, transport: this.transport });
  }

  private log(line: string): void {
    debug('%s', line);
    this.o.log?.(line);
  }

  /** The API root (scheme://host), decided by the first ping. */
  apiBase(): Promise<URL> {
    if (!this.base) {
      const p = this.ping();
      this.base = p;
      // A failed ping is not remembered: the next request pings again.
      p.catch(() => {
        if (this.base === p) this.base = undefined;
      });
    }
    return this.base;
  }

  /**
   * GET /v2/ over HTTPS, falling back to plain HTTP where allowed and the server
   * does not speak TLS. One try each: the request that needs the ping retries it.
   */
  private async ping(): Promise<URL> {
    const https = new URL(`https://${this.o.apiHost}/v2/`);
    if (!this.httpAllowed) return this.pingAt(https);
    try {
      return await this.pingAt(https);
    } catch (e) {
      // An untrusted certificate means TLS is spoken: say so rather than drop to HTTP.
      if (this.transport.signal?.aborted || !isOcimountError(e, 'NETWORK') || e.details.tls === 'untrusted') throw e;
      this.log(`ping ${redactUrl(https)}: ${(e as Error).message}; trying plain HTTP`);
      return this.pingAt(new URL(`http://${this.o.apiHost}/v2/`));
    }
  }

  private async pingAt(url: URL): Promise<URL> {
    const what = 'the registry API root';
    const res = await this.transport.send({ url });
    const status = res.statusCode ?? 0;
    if (status === 401) {
      res.resume();
      this.auth.challenged(res.headers['www-authenticate']);
    } else if (status >= 200 && status < 300) {
      res.resume();
    } else {
      const body = await readBody(res, ERROR_BODY_CAP, { what, registry: this.registry, url }).catch(() => Buffer.alloc(0));
      const err = responseError(res, body, { what, url, registry: this.registry });
      if (status === 404) {
        throw new OcimountError('PROTOCOL', `${this.registry} does not speak the OCI distribution API (GET /v2/ answered 404)`, err.details);
      }
      throw err;
    }
    this.log(`ping ${redactUrl(url)}: ${status}${this.auth.scheme ? ` (${this.auth.scheme} auth)` : ''}`);
    return new URL(`${url.protocol}//${url.host}`);
  }

  /** One request, retried as a whole (ping, token, redirects, body) on temporary failures. */
  request<T>(spec: RequestSpec<T>): Promise<T> {
    return withRetries(() => this.attempt(spec), { ...this.retry, what: spec.what });
  }

  private async attempt<T>(spec: RequestSpec<T>): Promise<T> {
    const base = await this.apiBase();
    const url = new URL(spec.path, base);
    for (let reauth = false; ; reauth = true) {
      const authorization = await this.auth.authorization();
      const headers: OutgoingHttpHeaders = { ...(spec.headers ?? {}) };
      if (authorization) headers.authorization = authorization;
      const { res, url: finalUrl } = await sendFollowingRedirects(this.transport, url, headers);
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return spec.handle(res, finalUrl);
      const fromRegistry = finalUrl.origin === url.origin;
      if (status === 401 && fromRegistry) {
        const challenge = res.headers['www-authenticate'];
        res.resume();
        if (!reauth) {
          // An expired token, or a challenge the ping did not show: learn it and try once more.
          this.auth.challenged(challenge, authorization ?? '');
          continue;
        }
        const cred = await this.auth.resolveCredential();
        const details = { status, url: redactUrl(url), what: spec.what };
        // With Bearer, credentials the token server accepted (it would have refused them
        // already) mean the token lacks the scope: no access, rather than a wrong password.
        if (cred && cred.kind !== 'registryToken' && this.auth.scheme === 'bearer') throw accessDenied(this.registry, this.repository, cred, details);
        throw credentialProblem(this.registry, cred, details);
      }
      const ctx = { what: spec.what, url: finalUrl, registry: this.registry };
      const body = await readBody(res, ERROR_BODY_CAP, ctx).catch(() => Buffer.alloc(0));
      throw responseError(res, body, ctx);
    }
  }

  close(): void {
    this.transport.close();
  }
}
