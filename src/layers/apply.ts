// One layer blob -> one directory: read, verify, decompress, parse, extract,
// end to end through stream.pipeline (backpressure all the way, so memory does
// not grow with the layer). The blob digest and size and the diff_id are
// checked at EOF; the caller publishes the directory only after that.
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { Transform, Writable } from 'node:stream';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OcimountError, isOcimountError } from '../errors';
import type { Descriptor } from '../image/types';
import type { FsOps } from '../fsops/types';
import { Decompressor, compressionOf } from './decompress';
import { LayerExtractor } from './extract';
import type { WhiteoutFormat } from './record';
import { TarParser } from './tar-reader';
import type { UnpackWarning } from './warnings';

/** A layer to unpack, wherever its bytes come from. */
export interface LayerSource {
  /** The manifest's layer descriptor (mediaType, digest, size). */
  descriptor: Descriptor;
  /** The config's rootfs.diff_ids[N]. */
  diffId: string;
  /** A fresh stream of the compressed blob (may be called again to diagnose a failure). */
  open(): Readable;
}

export interface ApplyLayerOptions {
  fsops: FsOps;
  format: WhiteoutFormat;
  userxattr: boolean;
  layer: number;
  strict?: boolean;
  onWarning(w: UnpackWarning): void;
  /** Compressed bytes read so far. */
  onBytes?(bytes: number): void;
}

export interface ApplyLayerResult {
  entries: number;
  /** Uncompressed tar bytes. */
  tarBytes: number;
}

const ALGORITHMS = new Set(['sha256', 'sha512']);

export function digestHasher(digest: string, what: string): { hash: Hash; algorithm: string } {
  const algorithm = digest.split(':', 1)[0];
  if (!ALGORITHMS.has(algorithm) || !/^[a-z0-9]+:[a-f0-9]+$/.test(digest)) {
    throw new OcimountError('UNSUPPORTED', `${what} "${digest}" uses an unsupported digest algorithm`, { digest });
  }
  return { hash: createHash(algorithm), algorithm };
}

/** Hashes and counts the compressed bytes as they pass. */
class DigestTap extends Transform {
  bytes = 0;
  constructor(
    readonly hash: Hash,
    private readonly onBytes?: (n: number) => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(this.bytes);
    cb(null, chunk);
  }
}

/** The end of the pipeline: hashes the tar stream (diff_id) and feeds the parser, which feeds the extractor. */
class TarSink extends Writable {
  bytes = 0;
  private readonly parser: TarParser;
  constructor(
    readonly hash: Hash,
    readonly extractor: LayerExtractor,
  ) {
    super({ highWaterMark: 64 * 1024 });
    this.parser = new TarParser(extractor);
  }
  override _write(chunk: Buffer, _e: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      this.hash.update(chunk);
      this.bytes += chunk.length;
      this.parser.write(chunk);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
  override _final(cb: (err?: Error | null) => void): void {
    try {
      this.parser.end();
      this.extractor.finish();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

/** Extracts one layer into `root` (an empty directory) and verifies it; throws on any mismatch. */
export async function applyLayer(src: LayerSource, root: string, opts: ApplyLayerOptions): Promise<ApplyLayerResult> {
  const d = src.descriptor;
  const declared = compressionOf(d.mediaType);
  const blob = digestHasher(d.digest, `layer ${opts.layer} digest`);
  const diff = digestHasher(src.diffId, `layer ${opts.layer} diff_id`);
  const tap = new DigestTap(blob.hash, opts.onBytes);
  const decompress = new Decompressor(declared, {
    onMismatch: (want, got) =>
      opts.onWarning({
        code: 'COMPRESSION_MISMATCH',
        message: `layer ${opts.layer}: media type ${d.mediaType} says ${want} but the data is ${got === 'none' ? 'not compressed' : got}; decoded as ${got}`,
        layer: opts.layer,
      }),
  });
  const extractor = new LayerExtractor(root, opts);
  const sink = new TarSink(diff.hash, extractor);
  try {
    await pipeline(src.open(), tap, decompress, sink);
  } catch (err) {
    // A corrupt or short stream is usually a blob that is not what the manifest says: say that.
    const actual = await blobDigest(src, blob.algorithm).catch(() => undefined);
    if (actual && actual.digest !== d.digest) throw digestMismatch(opts.layer, d, actual.digest, err);
    throw mapFsError(err, opts.layer);
  }
  if (tap.bytes !== d.size) {
    throw new OcimountError('SIZE_MISMATCH', `layer ${opts.layer} (${d.digest}): blob is ${tap.bytes} bytes, the manifest says ${d.size}`, {
      layer: opts.layer,
      expected: d.size,
      actual: tap.bytes,
    });
  }
  const gotDigest = `${blob.algorithm}:${blob.hash.digest('hex')}`;
  if (gotDigest !== d.digest) throw digestMismatch(opts.layer, d, gotDigest);
  const gotDiff = `${diff.algorithm}:${diff.hash.digest('hex')}`;
  if (gotDiff !== src.diffId) {
    throw new OcimountError('DIGEST_MISMATCH', `layer ${opts.layer}: uncompressed content is ${gotDiff}, the config's diff_id says ${src.diffId}`, {
      layer: opts.layer,
      expected: src.diffId,
      actual: gotDiff,
      kind: 'diff_id',
    });
  }
  return { entries: extractor.entries, tarBytes: sink.bytes };
}

function digestMismatch(layer: number, d: Descriptor, actual: string, cause?: unknown): OcimountError {
  return new OcimountError(
    'DIGEST_MISMATCH',
    `layer ${layer}: blob content is ${actual}, the manifest says ${d.digest}`,
    { layer, expected: d.digest, actual, kind: 'blob' },
    cause ? { cause } : undefined,
  );
}

async function blobDigest(src: LayerSource, algorithm: string): Promise<{ digest: string; size: number }> {
  const h = createHash(algorithm);
  let size = 0;
  for await (const chunk of src.open()) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `${algorithm}:${h.digest('hex')}`, size };
}

function mapFsError(err: unknown, layer: number): unknown {
  if (isOcimountError(err)) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new OcimountError('NO_SPACE', `layer ${layer}: no space left while unpacking`, { layer }, { cause: err });
  }
  if (code === 'EPERM' && /mknod/.test((err as Error).message)) {
    return new OcimountError('PERMISSION', `layer ${layer}: creating a device node needs root (${(err as Error).message})`, { layer }, { cause: err });
  }
  return err;
}
