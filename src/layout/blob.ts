// Verified, atomic blob writes. Bytes stream into a temp file inside blobs/sha256,
// hashed and counted on the way; only a blob whose size and sha256 match its
// descriptor is renamed to blobs/sha256/<hex>. An interrupted body is resumed
// from the bytes already on disk (re-hashed from the start of the file), and a
// failure of any kind removes the temp file, so nothing half-written is trusted.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { OcimountError, isOcimountError } from '../errors';
import { fsyncDir, mapWriteError } from './atomic';
import { TEMP_PREFIX, blobPath, blobsDir } from './paths';

export interface BlobRef {
  digest: string;
  size: number;
}

/** Opens the blob's bytes from offset; the answer says where its stream really starts (0 when Range was ignored). */
export type BlobSource = (offset: number) => Promise<{ stream: Readable; offset: number }>;

export interface WriteBlobOptions {
  signal?: AbortSignal;
  /** Bytes of this blob on disk so far (after a resume restart it can go down). */
  onBytes?(bytes: number): void;
  /** How many times a body cut short is resumed (default 3). */
  resumes?: number;
  /** Called before each resume, for logs. */
  onResume?(offset: number, err: unknown): void;
}

export interface WriteBlobResult {
  /** true when a valid copy was already there and nothing was fetched. */
  skipped: boolean;
  /** How many times the body was resumed. */
  resumed: number;
}

const TEMPORARY_ERRNO = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'ECONNREFUSED']);

function temporary(err: unknown): boolean {
  if (isOcimountError(err)) return err.temporary;
  const code = (err as NodeJS.ErrnoException)?.code;
  return (code !== undefined && TEMPORARY_ERRNO.has(code)) || (err as Error)?.message === 'aborted';
}

async function hashFile(file: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  const s = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  for await (const c of s as AsyncIterable<Buffer>) {
    h.update(c);
    size += c.length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

/** Whether the blob is present with the descriptor's size and digest. */
export async function hasValidBlob(layout: string, ref: BlobRef): Promise<boolean> {
  const file = blobPath(layout, ref.digest);
  let st: fs.Stats;
  try {
    st = await fsp.stat(file);
  } catch {
    return false;
  }
  if (!st.isFile() || st.size !== ref.size) return false;
  const got = await hashFile(file);
  return got.digest === ref.digest;
}

/** A temp file name for a blob: unique per writer, recognisable for cleanup. */
export function blobTempPath(layout: string, digest: string): string {
  return path.join(blobsDir(layout), `${TEMP_PREFIX}${digest.slice(7, 19)}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Temp files left in blobs/sha256 (by us or a killed run). */
export function listTempBlobs(layout: string): string[] {
  try {
    return fs.readdirSync(blobsDir(layout)).filter((n) => n.startsWith(TEMP_PREFIX));
  } catch {
    return [];
  }
}

/** Removes temp files of writers that are gone (the pid in the name is dead). */
export function removeStaleTempBlobs(layout: string): number {
  let n = 0;
  for (const name of listTempBlobs(layout)) {
    const pid = Number(/-(\d+)-[0-9a-f]+$/.exec(name)?.[1]);
    let alive = false;
    if (pid > 0) {
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === 'EPERM';
      }
    }
    if (!alive) {
      fs.rmSync(path.join(blobsDir(layout), name), { force: true });
      n++;
    }
  }
  return n;
}

const WRITE_BATCH = 1 << 20;

class WriteFailure {
  constructor(readonly err: unknown) {}
}

/**
 * Fetches a blob into the layout unless a valid copy is there. DIGEST_MISMATCH /
 * SIZE_MISMATCH when the bytes are not what the descriptor says, TRUNCATED when the
 * body stays short after the resumes, NO_SPACE on a full disk. The temp file is
 * removed on every failure (and on abort).
 */
export async function writeBlob(layout: string, ref: BlobRef, source: BlobSource, opts: WriteBlobOptions = {}): Promise<WriteBlobResult> {
  const final = blobPath(layout, ref.digest);
  if (!Number.isSafeInteger(ref.size) || ref.size < 0) throw new OcimountError('PROTOCOL', `descriptor of ${ref.digest} has an invalid size ${ref.size}`);
  if (await hasValidBlob(layout, ref)) return { skipped: true, resumed: 0 };
  opts.signal?.throwIfAborted();
  const tmp = blobTempPath(layout, ref.digest);
  let fh: fsp.FileHandle | undefined;
  let resumed = 0;
  const maxResumes = opts.resumes ?? 3;
  try {
    fh = await fsp.open(tmp, 'w+', 0o644).catch((err) => {
      throw new WriteFailure(err);
    });
    let written = 0;
    for (;;) {
      opts.signal?.throwIfAborted();
      // Resuming: the digest covers the whole file, so hash what is already there
      // (before asking for more, so no body waits unread meanwhile).
      let hash = createHash('sha256');
      if (written > 0) {
        let n = 0;
        const s = fs.createReadStream(tmp, { end: written - 1, highWaterMark: 1 << 20 });
        for await (const c of s as AsyncIterable<Buffer>) {
          hash.update(c);
          n += c.length;
        }
        if (n !== written) throw new OcimountError('INTERNAL', `partial file ${tmp} holds ${n} bytes, expected ${written}`);
      }
      const res = await source(written);
      // An error before iteration starts is still seen by the loop below; this only keeps it from being "unhandled".
      res.stream.on('error', () => undefined);
      if (res.offset !== written) {
        if (res.offset !== 0) {
          res.stream.destroy();
          throw new OcimountError('PROTOCOL', `registry answered a range request for ${ref.digest} at ${res.offset}, not ${written}`);
        }
        // Range ignored: start over.
        await fh.truncate(0);
        written = 0;
        hash = createHash('sha256');
      }
      let cut: unknown;
      try {
        // Chunks are gathered into ~1 MiB writes: one syscall per MiB, not per socket read.
        let pending: Buffer[] = [];
        let pendingBytes = 0;
        const flush = async (): Promise<void> => {
          if (!pendingBytes) return;
          const bufs = pending;
          const n = pendingBytes;
          pending = [];
          pendingBytes = 0;
          try {
            const buf = bufs.length === 1 ? bufs[0] : Buffer.concat(bufs, n);
            await fh!.write(buf, 0, n, written);
          } catch (err) {
            res.stream.destroy();
            throw new WriteFailure(err);
          }
          written += n;
          opts.onBytes?.(written);
        };
        try {
          for await (const chunk of res.stream as AsyncIterable<Buffer>) {
            if (written + pendingBytes + chunk.length > ref.size) {
              res.stream.destroy();
              throw new OcimountError('SIZE_MISMATCH', `blob ${ref.digest} is larger than its descriptor's ${ref.size} bytes`, { digest: ref.digest, size: ref.size });
            }
            hash.update(chunk);
            pending.push(chunk);
            pendingBytes += chunk.length;
            if (pendingBytes >= WRITE_BATCH) await flush();
          }
        } finally {
          // Whatever arrived before a cut is kept (and counted) so a resume starts after it.
          if (!(opts.signal?.aborted)) await flush();
        }
      } catch (err) {
        if (err instanceof WriteFailure || isOcimountError(err, 'SIZE_MISMATCH') || opts.signal?.aborted || !temporary(err)) throw err;
        cut = err;
      }
      if (cut === undefined && written < ref.size) {
        cut = new OcimountError('TRUNCATED', `blob ${ref.digest} ended after ${written} of ${ref.size} bytes${resumed ? ` (resumed ${resumed}x)` : ''}`, { digest: ref.digest, size: ref.size, got: written });
      }
      if (cut !== undefined) {
        if (resumed >= maxResumes) {
          const tries = resumed ? ` (resumed ${resumed}x)` : '';
          if (isOcimountError(cut, 'TRUNCATED') && /^blob .* ended after/.test(cut.message)) throw cut;
          throw new OcimountError('TRUNCATED', `blob ${ref.digest} was cut off after ${written} of ${ref.size} bytes${tries}: ${(cut as Error).message}`, { digest: ref.digest, got: written }, { cause: cut });
        }
        resumed++;
        opts.onResume?.(written, cut);
        continue;
      }
      const digest = `sha256:${hash.digest('hex')}`;
      if (digest !== ref.digest) {
        throw new OcimountError('DIGEST_MISMATCH', `blob ${ref.digest} arrived with digest ${digest}: the registry served different bytes`, { expected: ref.digest, got: digest });
      }
      try {
        await fh.sync();
        await fh.close();
        fh = undefined;
        await fsp.rename(tmp, final);
        await fsyncDir(path.dirname(final));
      } catch (err) {
        throw new WriteFailure(err);
      }
      return { skipped: false, resumed };
    }
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true });
    if (err instanceof WriteFailure) throw mapWriteError(err.err, `${ref.digest} into ${layout}`);
    throw mapWriteError(err, `${ref.digest} into ${layout}`);
  }
}

/** Writes bytes already in memory (manifests, configs) as a verified blob. */
export async function writeBlobBytes(layout: string, ref: BlobRef, body: Buffer, opts: { signal?: AbortSignal } = {}): Promise<WriteBlobResult> {
  return writeBlob(layout, ref, async () => ({ stream: Readable.from([body]), offset: 0 }), { signal: opts.signal, resumes: 0 });
}
