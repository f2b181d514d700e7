// Layer decompression: chosen by media type, confirmed by the first bytes.
//
// node:zlib for gzip (native, inflates on the libuv pool, handles multi-member
// streams), zstd-napi's streaming DecompressStream for zstd (libzstd; 5x faster
// than the pure-JS fzstd here, see README "Choices that were measured").
import { Duplex } from 'node:stream';
import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { OcimountError } from '../errors';
import type { Compression } from '../image/types';
import { layerCompression } from '../image/types';

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

/** What the first bytes of a blob say it is ('none' = not a compression we know: a tar or garbage). */
export function sniffCompression(head: Buffer): Compression {
  const starts = (m: number[]): boolean => head.length >= m.length && m.every((b, i) => head[i] === b);
  if (starts(GZIP_MAGIC)) return 'gzip';
  if (starts(ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

/** The compression a layer media type declares; UNSUPPORTED for any other media type. */
export function compressionOf(mediaType: string): Compression {
  const c = layerCompression(mediaType);
  if (!c) throw new OcimountError('UNSUPPORTED', `unsupported layer media type "${mediaType}"`, { mediaType });
  return c;
}

function inflater(c: Compression): Transform | undefined {
  if (c === 'gzip') return zlib.createGunzip({ chunkSize: 64 * 1024 });
  if (c === 'zstd') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { DecompressStream } = require('zstd-napi') as { DecompressStream: new () => Transform };
    return new DecompressStream();
  }
  return undefined;
}

export interface DecompressOptions {
  /** Called when the bytes contradict the media type (the bytes win). */
  onMismatch?(declared: Compression, actual: Compression): void;
}

/**
 * A Duplex: compressed bytes in, tar bytes out. It holds back input until it has
 * seen 4 bytes, picks the decoder, and pauses the decoder whenever its reader is
 * full, so a highly compressible layer cannot balloon in memory.
 */
export class Decompressor extends Duplex {
  private inner: Transform | undefined;
  private started = false;
  private head: Buffer[] = [];
  private headLen = 0;
  /** Which decoder the bytes selected (set once started). */
  actual: Compression | undefined;

  constructor(
    private readonly declared: Compression,
    private readonly opts: DecompressOptions = {},
  ) {
    super({ readableHighWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!this.started) {
      this.head.push(chunk);
      this.headLen += chunk.length;
      if (this.headLen < 4) return cb();
      this.start();
      chunk = Buffer.concat(this.head);
      this.head = [];
    }
    this.forward(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.started) {
      this.start();
      const rest = Buffer.concat(this.head);
      this.head = [];
      if (rest.length) return this.forward(rest, () => this.endInner(cb));
    }
    this.endInner(cb);
  }

  override _read(): void {
    this.inner?.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inner?.destroy();
    cb(err);
  }

  private start(): void {
    this.started = true;
    const head = Buffer.concat(this.head);
    const actual = sniffCompression(head);
    if (actual !== this.declared) this.opts.onMismatch?.(this.declared, actual);
    this.actual = actual;
    this.inner = inflater(actual);
    if (!this.inner) return;
    this.inner.on('data', (d: Buffer) => {
      if (!this.push(d)) this.inner!.pause();
    });
    this.inner.on('end', () => this.push(null));
    this.inner.on('error', (e: Error) => this.destroy(decodeError(actual, e)));
  }

  private forward(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (!this.inner) {
      this.push(chunk);
      return cb();
    }
    if (this.inner.write(chunk)) cb();
    else this.inner.once('drain', () => cb());
  }

  private endInner(cb: (err?: Error | null) => void): void {
    if (!this.inner) {
      this.push(null);
      return cb();
    }
    this.inner.end();
    cb();
  }
}

function decodeError(c: Compression, e: Error): OcimountError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'Z_BUF_ERROR' || /unexpected end|truncated|incomplete/i.test(e.message)) {
    return new OcimountError('TRUNCATED', `${c} stream ends unexpectedly: ${e.message}`, {}, { cause: e });
  }
  return new OcimountError('CORRUPT', `${c} stream is corrupt: ${e.message}`, {}, { cause: e });
}
