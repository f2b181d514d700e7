// Response bodies: small ones read whole under a cap (a cut-short body is
// TRUNCATED, so the caller retries it), large ones handed on as a stream whose
// transport failures surface as TRUNCATED OcimountErrors.
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import type { Readable } from 'node:stream';
import { OcimountError } from '../errors';
import { redactUrl } from './errors';
import { abortReason } from './transport';

export interface BodyContext {
  what: string;
  registry: string;
  url: URL;
}

function truncated(ctx: BodyContext, received: number, cause?: unknown): OcimountError {
  return new OcimountError(
    'TRUNCATED',
    `${ctx.registry} closed the connection after ${received} bytes of ${ctx.what}`,
    { url: redactUrl(ctx.url), received },
    { cause },
  );
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
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > cap) {
        res.destroy();
        throw new OcimountError('PROTOCOL', `${ctx.what} from ${ctx.registry} is more than the ${cap} bytes we accept`, { url: redactUrl(ctx.url) });
      }
      chunks.push(c);
    }
  } catch (e) {
    if (e instanceof OcimountError) throw e;
    throw truncated(ctx, n, e);
  }
  if (Number.isFinite(declared) && n !== declared) throw truncated(ctx, n);
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
  res.on('data', (c: Buffer) => {
    n += c.length;
  });
  const fail = (e?: unknown): void => {
    if (!out.destroyed) out.destroy(signal?.aborted ? abortReason(signal) : truncated(ctx, n, e));
  };
  res.on('error', fail);
  res.on('aborted', () => fail());
  out.on('close', () => {
    if (!res.complete) res.destroy();
  });
  res.pipe(out);
  return out;
}
