// Response bodies: small ones read whole under a cap (a cut-short body is
// TRUNCATED, so the caller retries it), large ones handed on as a stream whose
// transport failures surface as TRUNCATED OcimountErrors. A body that stops
// arriving while we are ready for it is cut after an idle time, so a stalled
// registry fails (and is resumed) instead of hanging the pull.
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import type { Readable } from 'node:stream';
import { OcimountError } from '../errors';
import { redactUrl } from './errors';
import { abortReason, IDLE_TIMEOUT_MS } from './transport';

export interface BodyContext {
  what: string;
  registry: string;
  url: URL;
  /** Cut the body after this long without a byte (default IDLE_TIMEOUT_MS). */
  idleMs?: number;
}

const STALLED = 'ERR_OCIMOUNT_STALLED';

function truncated(ctx: BodyContext, received: number, cause: unknown, stalled: boolean): OcimountError {
  return new OcimountError(
    'TRUNCATED',
    stalled
      ? `${ctx.registry} stopped sending ${ctx.what} after ${received} bytes (nothing for ${Math.round((ctx.idleMs ?? IDLE_TIMEOUT_MS) / 1000)}s)`
      : `${ctx.registry} closed the connection after ${received} bytes of ${ctx.what}`,
    { url: redactUrl(ctx.url), received },
    { cause },
  );
}

/**
 * Destroys res when no byte has come for idleMs while it was not paused (a
 * paused body is the consumer's backpressure, not the server's fault).
 */
function watchStall(res: IncomingMessage, idleMs: number, paused: () => boolean): { touch(): void; stalled: boolean } {
  let last = Date.now();
  const w = {
    stalled: false,
    touch: (): void => {
      last = Date.now();
    },
  };
  const t = setInterval(() => {
    if (paused()) last = Date.now();
    else if (Date.now() - last >= idleMs) {
      const e = new Error(`no data for ${idleMs} ms`) as NodeJS.ErrnoException;
      e.code = STALLED;
      w.stalled = true;
      res.destroy(e);
    }
  }, Math.max(5, Math.floor(idleMs / 4)));
  t.unref();
  res.once('close', () => clearInterval(t));
  return w;
}

/** The whole body, at most `cap` bytes (beyond it: PROTOCOL, the response is dropped). */
export async function readBody(res: IncomingMessage, cap: number, ctx: BodyContext): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > cap) {
    res.destroy();
    throw new OcimountError('PROTOCOL', `${ctx.what} from ${ctx.registry} is ${declared} bytes, more than the ${cap} we accept`, { url: redactUrl(ctx.url), size: declared });
  }
  const chunks: Buffer[] = [];
  let n = 0;
  const watch = watchStall(res, ctx.idleMs ?? IDLE_TIMEOUT_MS, () => false);
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      watch.touch();
      n += c.length;
      if (n > cap) {
        res.destroy();
        throw new OcimountError('PROTOCOL', `${ctx.what} from ${ctx.registry} is more than the ${cap} bytes we accept`, { url: redactUrl(ctx.url) });
      }
      chunks.push(c);
    }
  } catch (e) {
    if (e instanceof OcimountError) throw e;
    throw truncated(ctx, n, e, watch.stalled);
  }
  if (Number.isFinite(declared) && n !== declared) throw truncated(ctx, n, undefined, false);
  return Buffer.concat(chunks);
}

/**
 * The body as a stream with backpressure intact. A connection cut mid-body is
 * reported as TRUNCATED (with the bytes received), and destroying the returned
 * stream releases the connection.
 */
export function bodyStream(res: IncomingMessage, ctx: BodyContext, signal?: AbortSignal): Readable {
  const out = new PassThrough();
  let n = 0;
  const watch = watchStall(res, ctx.idleMs ?? IDLE_TIMEOUT_MS, () => res.isPaused());
  res.on('data', (c: Buffer) => {
    n += c.length;
    watch.touch();
  });
  const fail = (e?: unknown): void => {
    if (!out.destroyed) out.destroy(signal?.aborted ? abortReason(signal) : truncated(ctx, n, e, watch.stalled));
  };
  res.on('error', fail);
  res.on('aborted', () => fail());
  out.on('close', () => {
    if (!res.complete) res.destroy();
  });
  res.pipe(out);
  return out;
}
