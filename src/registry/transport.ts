// One HTTP exchange over node:http/https: send a request, hand back the response
// once its headers arrive. Socket, DNS and TLS failures become NETWORK errors;
// an abort rejects with the signal's reason. TLS trust (extra CA, or no
// verification when insecure) is fixed per transport, at construction.
import { setMaxListeners } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { OcimountError } from '../errors';
import { networkError, redactUrl } from './errors';

/** How long a request may wait for its response headers, or a flowing body for its next byte. */
export const IDLE_TIMEOUT_MS = 60_000;
const FREE_SOCKET_TIMEOUT_MS = 15_000;

export interface TransportOptions {
  /** Registry name for messages ("127.0.0.1:5000"). */
  registry: string;
  ca?: string | Buffer;
  /** Skip certificate verification. */
  insecure?: boolean;
  signal?: AbortSignal;
  /** See IDLE_TIMEOUT_MS. */
  idleTimeoutMs?: number;
}

export interface SendRequest {
  url: URL;
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer;
}

/** The reason an aborted signal carries, as something throwable. */
export function abortReason(signal: AbortSignal): Error {
  const r = signal.reason as unknown;
  if (r instanceof Error) return r;
  const e = new Error(typeof r === 'string' ? r : 'the operation was aborted');
  e.name = 'AbortError';
  return e;
}

/**
 * Our own signal following the caller's: every request and backoff sleep adds
 * a listener to it, and a pull has many in flight, so the caller's signal gets
 * one listener per client instead of one per request.
 */
function linkedSignal(outer: AbortSignal | undefined): AbortSignal | undefined {
  if (!outer) return undefined;
  const ac = new AbortController();
  setMaxListeners(1000, ac.signal);
  if (outer.aborted) ac.abort(outer.reason);
  else outer.addEventListener('abort', () => ac.abort(outer.reason), { once: true });
  return ac.signal;
}

export class Transport {
  readonly registry: string;
  readonly signal?: AbortSignal;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  readonly idleMs: number;

  constructor(opts: TransportOptions) {
    this.registry = opts.registry;
    this.signal = linkedSignal(opts.signal);
    this.idleMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    // Own agents: keep-alive across the many blob requests of one pull, and TLS
    // settings that never leak into the process-wide global agent.
    // Idle sockets close after a while, so clients nobody closes leave nothing behind.
    this.httpAgent = new http.Agent({ keepAlive: true, timeout: FREE_SOCKET_TIMEOUT_MS });
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      timeout: FREE_SOCKET_TIMEOUT_MS,
      // Added to the system roots, not instead of them: a token realm may sit on a public host.
      ...(opts.ca ? { ca: [...tls.rootCertificates, String(opts.ca)] } : {}),
      rejectUnauthorized: !opts.insecure,
    });
  }

  send(r: SendRequest): Promise<IncomingMessage> {
    const signal = this.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const { url } = r;
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return Promise.reject(new OcimountError('PROTOCOL', `${this.registry} sent us to an unsupported URL ${redactUrl(url)}`));
    }
    const mod = url.protocol === 'https:' ? https : http;
    const headers: OutgoingHttpHeaders = { 'user-agent': 'ocimount/0.1', ...(r.headers ?? {}) };
    if (r.body !== undefined) headers['content-length'] = Buffer.byteLength(r.body);
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (err: unknown): void => {
        if (settled) return;
        settled = true;
        reject(signal?.aborted ? abortReason(signal) : err instanceof OcimountError ? err : networkError(err, url, this.registry));
      };
      const req = mod.request(
        url,
        {
          method: r.method ?? 'GET',
          headers,
          agent: url.protocol === 'https:' ? this.httpsAgent : this.httpAgent,
          signal,
        },
        (res) => {
          req.setTimeout(0);
          if (settled) {
            res.destroy();
            return;
          }
          settled = true;
          resolve(res);
        },
      );
      req.setTimeout(this.idleMs, () => {
        const e = new Error(`no response within ${Math.round(this.idleMs / 1000)}s`) as NodeJS.ErrnoException;
        e.code = 'ETIMEDOUT';
        req.destroy(e);
      });
      req.on('error', fail);
      req.end(r.body);
    });
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
