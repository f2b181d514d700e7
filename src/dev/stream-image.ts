// Like image-builder's writeImage, but every layer is streamed from a lazy
// entry generator through the compressor to disk: for layers too big to hold
// in memory (memory-cap tests, benchmarks). Plain files, not src/layout.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { MediaType, REF_NAME_ANNOTATION } from '../image/types';
import type { Compression, Descriptor, ImageConfig, Index, Manifest } from '../image/types';
import { tarChunks } from './tar';
import type { TarEntry } from './tar';

export interface StreamedLayer {
  entries: Iterable<TarEntry>;
  compression?: Compression;
  /** gzip/zstd level; default: fast (1 for gzip, 1 for zstd). */
  level?: number;
}

function hashTap(onDone: (digest: string, size: number) => void): Transform {
  const h = createHash('sha256');
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      onDone('sha256:' + h.digest('hex'), size);
      cb();
    },
  });
}

function compressor(c: Compression, level: number | undefined): Transform {
  if (c === 'gzip') return zlib.createGzip({ level: level ?? 1 });
  if (c === 'zstd') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { CompressStream } = require('zstd-napi') as { CompressStream: new (p?: object) => Transform };
    return new CompressStream({ compressionLevel: level ?? 1 });
  }
  return new Transform({ transform: (c2: Buffer, _e, cb) => cb(null, c2) });
}

function blobFile(layout: string, digest: string): string {
  return path.join(layout, 'blobs', 'sha256', digest.slice(7));
}

function putJson(layout: string, value: unknown): Descriptor & { json: string } {
  const json = JSON.stringify(value);
  const digest = 'sha256:' + createHash('sha256').update(json).digest('hex');
  fs.writeFileSync(blobFile(layout, digest), json);
  return { mediaType: '', digest, size: Buffer.byteLength(json), json };
}

export async function writeStreamedImage(layout: string, layers: StreamedLayer[], opts: { tag?: string } = {}): Promise<{ manifest: Manifest; config: ImageConfig; manifestDigest: string }> {
  fs.mkdirSync(path.join(layout, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const descs: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const l of layers) {
    const c = l.compression ?? 'gzip';
    const tmp = path.join(layout, 'blobs', `upload-${process.pid}-${descs.length}`);
    let diffId = '';
    let blob = { digest: '', size: 0 };
    await pipeline(
      Readable.from(tarChunks(l.entries)),
      hashTap((d) => (diffId = d)),
      compressor(c, l.level),
      hashTap((digest, size) => (blob = { digest, size })),
      fs.createWriteStream(tmp),
    );
    fs.renameSync(tmp, blobFile(layout, blob.digest));
    const mediaType = c === 'gzip' ? MediaType.OciLayerGzip : c === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
    descs.push({ mediaType, digest: blob.digest, size: blob.size });
    diffIds.push(diffId);
  }
  const config: ImageConfig = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} };
  const cfg = putJson(layout, config);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size },
    layers: descs,
  };
  const man = putJson(layout, manifest);
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [{ mediaType: MediaType.OciManifest, digest: man.digest, size: man.size, ...(opts.tag ? { annotations: { [REF_NAME_ANNOTATION]: opts.tag } } : {}) }],
  };
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify(index));
  return { manifest, config, manifestDigest: man.digest };
}
