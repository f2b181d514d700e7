// Registry failures → OcimountError with stable codes. Error bodies are read up
// to a cap, the distribution-spec error code is kept in details, and URLs are
// shown without credentials or query strings (signed redirect URLs carry secrets).
import type { IncomingMessage } from 'node:http';
import { OcimountError } from '../errors';
import type { ErrorCode } from '../errors';

export const ERROR_BODY_CAP = 64 * 1024;

/** A URL fit for messages: no userinfo, no query, no fragment. */
export function redactUrl(url: string | URL): string {
  try {
    const u = new URL(String(url));
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(unparseable URL)';
  }
}

/** Reads at most `cap` bytes of a response body, then discards the rest. */
export async function readCapped(res: IncomingMessage, cap = ERROR_BODY_CAP): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      if (n < cap) {
        const part = c.subarray(0, cap - n);
        chunks.push(part);
        n += part.length;
      }
    }
  } catch {
    // A body cut short still tells us what we have.
  }
  return Buffer.concat(chunks);
}

interface SpecError {
  code?: string;
  message?: string;
  detail?: unknown;
}

const SPEC_CODE_MAP: Record<string, ErrorCode> = {
  BLOB_UNKNOWN: 'NOT_FOUND',
  MANIFEST_UNKNOWN: 'NOT_FOUND',
  NAME_UNKNOWN: 'NOT_FOUND',
  BLOB_UPLOAD_UNKNOWN: 'NOT_FOUND',
  UNAUTHORIZED: 'UNAUTHORIZED',
  DENIED: 'DENIED',
  TOOMANYREQUESTS: 'RATE_LIMITED',
  UNSUPPORTED: 'UNSUPPORTED',
  NAME_INVALID: 'USAGE',
  TAG_INVALID: 'USAGE',
  DIGEST_INVALID: 'USAGE',
  MANIFEST_INVALID: 'PROTOCOL',
  MANIFEST_BLOB_UNKNOWN: 'NOT_FOUND',
  SIZE_INVALID: 'PROTOCOL',
  UNAVAILABLE: 'SERVER',
};

function statusCode(status: number): ErrorCode {
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 403) return 'DENIED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 429) return 'RATE_LIMITED';
  if (status >= 500) return 'SERVER';
  return 'PROTOCOL';
}

/** Seconds or an HTTP date → milliseconds from now (undefined when absent or unreadable). */
export function parseRetryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  if (/^\d+$/.test(s.trim())) return Number(s.trim()) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

export interface ResponseErrorContext {
  /** "manifest library/alpine:3" — what we were fetching, for the message. */
  what: string;
  url: string | URL;
  registry: string;
}

/** Turns a non-success response (already read, capped) into one clear error. */
export function responseError(res: IncomingMessage, body: Buffer, ctx: ResponseErrorContext): OcimountError {
  const status = res.statusCode ?? 0;
  let specErrors: SpecError[] = [];
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: SpecError[] };
    if (Array.isArray(parsed.errors)) specErrors = parsed.errors;
  } catch {
    // not JSON: fall back on the status
  }
  const first = specErrors.find((e) => e.code && SPEC_CODE_MAP[e.code]) ?? specErrors[0];
  // 5xx and 429 stay retryable whatever code the body claims.
  const code: ErrorCode = status >= 500 ? 'SERVER' : status === 429 ? 'RATE_LIMITED' : (first?.code && SPEC_CODE_MAP[first.code]) || statusCode(status);
  const registryMsg = first?.message ? `: ${String(first.message).slice(0, 300)}` : '';
  let message: string;
  switch (code) {
    case 'NOT_FOUND':
      message = `${ctx.what} not found on ${ctx.registry}${first?.code ? ` (${first.code})` : ''}`;
      break;
    case 'RATE_LIMITED':
      message = `${ctx.registry} is rate limiting requests (HTTP 429) while fetching ${ctx.what}`;
      break;
    case 'SERVER':
      message = `${ctx.registry} failed with HTTP ${status} while fetching ${ctx.what}${registryMsg}`;
      break;
    default:
      message = `${ctx.registry} refused ${ctx.what}: HTTP ${status}${first?.code ? ` ${first.code}` : ''}${registryMsg}`;
  }
  const details: Record<string, unknown> = { status, url: redactUrl(ctx.url) };
  if (first?.code) details.registryCode = first.code;
  const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
  if (retryAfterMs !== undefined) details.retryAfterMs = retryAfterMs;
  return new OcimountError(code, message, details);
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
]);

const NETWORK_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the registry running?)',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
  EPROTO: 'TLS handshake failed',
};

/** A transport failure (socket, DNS, TLS) as a NETWORK error; certificate problems are not retried. */
export function networkError(err: unknown, url: string | URL, registry: string): OcimountError {
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  if (TLS_CODES.has(code)) {
    return new OcimountError(
      'NETWORK',
      `TLS certificate of ${registry} is not trusted (${code}); use --insecure for a registry you trust without a valid certificate`,
      { url: redactUrl(url), errno: code, permanent: true, tls: 'untrusted' },
      { cause: err },
    );
  }
  // A TLS hello answered in plain HTTP: retrying will not change the server's mind.
  if (code === 'EPROTO' && /wrong version number/i.test(e?.message ?? '')) {
    return new OcimountError(
      'NETWORK',
      `${registry} does not speak TLS (HTTPS) on this port; if it is a plain-HTTP registry you trust, use --insecure`,
      { url: redactUrl(url), errno: code, permanent: true, tls: 'absent' },
      { cause: err },
    );
  }
  const why = NETWORK_WORDS[code] ?? (e?.message || String(err));
  return new OcimountError('NETWORK', `cannot reach registry ${registry}: ${why}`, { url: redactUrl(url), errno: code || undefined }, { cause: err });
}

export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return !!signal?.aborted || (err as Error)?.name === 'AbortError';
}
