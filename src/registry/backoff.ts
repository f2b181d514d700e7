// When to try again: exponential backoff with jitter, or the server's
// Retry-After when it gave one (capped, so a hostile or confused registry
// cannot park us for hours).
import { abortReason } from './transport';

export const DEFAULT_ATTEMPTS = 5;
export const DEFAULT_BACKOFF_MS = 200;
export const MAX_BACKOFF_MS = 10_000;
/** The longest Retry-After we wait out; beyond it we give up with RATE_LIMITED. */
export const MAX_RETRY_AFTER_MS = 60_000;

/** Delay before attempt `attempt + 1` (attempt counts from 0): base·2^attempt, jittered into [½, 1]. */
export function backoffDelay(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** attempt);
  // Jitter spreads out clients that failed together (a registry restart).
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** Resolves after ms, or rejects with the abort reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortReason(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
