// Retrying one request: on temporary failures (network, 429, 5xx, a body cut
// short) wait and try again, up to a number of attempts; never on 4xx, on
// untrusted certificates, or once aborted.
import { debuglog } from 'node:util';
import { isOcimountError } from '../errors';
import { backoffDelay, MAX_RETRY_AFTER_MS, sleep } from './backoff';
import { abortReason } from './transport';

const debug = debuglog('ocimount:registry');

export interface RetryOptions {
  /** Total attempts (at least 1). */
  attempts: number;
  backoffMs: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** For the log line: what is being fetched. */
  what: string;
}

/** Whether another attempt may succeed. */
export function isRetryable(err: unknown): boolean {
  return isOcimountError(err) && err.temporary && err.details.permanent !== true;
}

export async function withRetries<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const attempts = Math.max(1, Math.floor(o.attempts));
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      // Whatever broke once we were aborted (a body cut short, a reset), the abort is the story.
      if (o.signal?.aborted) throw abortReason(o.signal);
      if (!isRetryable(e) || attempt + 1 >= attempts) throw e;
      const err = e as { code: string; message: string; details: Record<string, unknown> };
      const retryAfter = typeof err.details.retryAfterMs === 'number' ? err.details.retryAfterMs : undefined;
      // A Retry-After beyond the cap means "not today": fail now rather than hang.
      if (retryAfter !== undefined && retryAfter > MAX_RETRY_AFTER_MS) throw e;
      const delay = retryAfter !== undefined && retryAfter > 0 ? retryAfter : backoffDelay(attempt, o.backoffMs);
      const line = `${o.what}: ${err.code} (${err.message}); attempt ${attempt + 2} of ${attempts} in ${delay} ms`;
      debug('%s', line);
      o.log?.(line);
      await sleep(delay, o.signal);
    }
  }
}
