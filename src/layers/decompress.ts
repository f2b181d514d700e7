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

export interface DecompressOptions {
  /** Called when the bytes contradict the media type (the bytes win). */
  onMismatch?(declared: Compression, actual: Compression): void;
}

interface ZstdDCtx {
  decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number];
}

/**
 * Slice size fed to zlib at a time. Node's zlib pushes all output of one input
 * chunk without waiting for the reader, and gzip expands up to ~1032x, so the
 * slice bounds what a decompression bomb can make us buffer (~16 MB).
 */
const GZIP_SLICE = 16 * 1024;
const ZSTD_OUT = 128 * 1024;

/**
 * A Duplex: compressed bytes in, tar bytes out. It holds back input until it has
 * seen 4 bytes, picks the decoder by magic bytes, and never produces more output
 * while its reader is full. zstd-napi's own DecompressStream pushes everything
 * one input chunk decodes to (a few KB of zstd can be GBs of zeros), so zstd is
 * driven here through its DCtx.decompressStream, 128 KB of output at a time.
 */
export class Decompressor extends Duplex {
  private started = false;
  private head: Buffer[] = [];
  private headLen = 0;
  private gunzip: Transform | undefined;
  private gunzipEnded = false;
  private zstd: ZstdDCtx | undefined;
  private zstdInFrame = false;
  /** The last push() was refused: wait for _read before producing more. */
  private full = false;
  private onRead: (() => void) | undefined;
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
      chunk = this.start();
    }
    this.decode(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.started) {
      const rest = this.start();
      if (rest.length) return this.decode(rest, (err) => (err ? cb(err) : this.finish(cb)));
    }
    this.finish(cb);
  }

  override _read(): void {
    this.full = false;
    this.gunzip?.resume();
    const fn = this.onRead;
    this.onRead = undefined;
    fn?.();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.gunzip?.destroy();
    cb(err);
  }

  private out(buf: Buffer): void {
    if (!this.push(buf)) this.full = true;
  }

  /** Runs fn now, or once the reader wants more. */
  private whenReadable(fn: () => void): void {
    if (!this.full) return fn();
    this.onRead = fn;
  }

  private start(): Buffer {
    this.started = true;
    const head = Buffer.concat(this.head);
    this.head = [];
    const actual = sniffCompression(head);
    if (actual !== this.declared) this.opts.onMismatch?.(this.declared, actual);
    this.actual = actual;
    if (actual === 'gzip') {
      this.gunzip = zlib.createGunzip({ chunkSize: 64 * 1024 });
      // Delivered on the next tick: zlib queues its next inflate on the pool when
      // its callback returns, so inflating overlaps our tar work instead of
      // alternating with it (measured: ~40% of unpack time was idle without this).
      this.gunzip.on('data', (d: Buffer) =>
        process.nextTick(() => {
          if (!this.push(d)) {
            this.full = true;
            this.gunzip!.pause();
          }
        }),
      );
      this.gunzip.on('end', () => process.nextTick(() => (this.gunzipEnded = true)));
      this.gunzip.on('error', (e: Error) => this.destroy(decodeError('gzip', e)));
    } else if (actual === 'zstd') {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const binding = require('zstd-napi/binding') as { DCtx: new () => ZstdDCtx };
      this.zstd = new binding.DCtx();
    }
    return head;
  }

  private decode(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.gunzip) return this.gunzipSlices(chunk, 0, cb);
    if (this.zstd) return this.zstdPump(chunk, cb);
    this.out(chunk);
    this.whenReadable(() => cb());
  }

  /**
   * Feeds zlib slice by slice without waiting for each slice to be inflated (so
   * inflating on the pool overlaps our tar work), but stops while zlib's input
   * buffer is full or our reader is.
   */
  private gunzipSlices(chunk: Buffer, off: number, cb: (err?: Error | null) => void): void {
    while (off < chunk.length) {
      if (this.full) return this.whenReadable(() => this.gunzipSlices(chunk, off, cb));
      const slice = chunk.subarray(off, off + GZIP_SLICE);
      off += slice.length;
      if (!this.gunzip!.write(slice)) return void this.gunzip!.once('drain', () => this.gunzipSlices(chunk, off, cb));
    }
    cb();
  }

  private zstdPump(src: Buffer, cb: (err?: Error | null) => void): void {
    for (;;) {
      const dst = Buffer.allocUnsafe(ZSTD_OUT);
      let ret: number, produced: number, consumed: number;
      try {
        [ret, produced, consumed] = this.zstd!.decompressStream(dst, src);
      } catch (e) {
        return cb(decodeError('zstd', e as Error));
      }
      src = src.subarray(consumed);
      this.zstdInFrame = ret !== 0;
      if (produced) this.out(dst.subarray(0, produced));
      const outputPending = produced === dst.length;
      if (src.length === 0 && !outputPending) return this.whenReadable(() => cb());
      if (this.full) return this.whenReadable(() => this.zstdPump(src, cb));
    }
  }

  private finish(cb: (err?: Error | null) => void): void {
    if (this.gunzip) {
      const done = (): void => {
        this.push(null);
        cb();
      };
      if (this.gunzipEnded) return done();
      this.gunzip.once('end', () => process.nextTick(done));
      this.gunzip.end();
      return;
    }
    if (this.zstd && this.zstdInFrame) return cb(new OcimountError('TRUNCATED', 'zstd stream ends unexpectedly (inside a frame)'));
    this.push(null);
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
