// Durable, atomic small-file writes: temp file in the same directory, fsync, rename.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { OcimountError } from '../errors';

/** ENOSPC/EDQUOT → NO_SPACE; anything else unchanged. */
export function mapWriteError(err: unknown, what: string): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new OcimountError('NO_SPACE', `no space left on the device writing ${what}`, { path: what }, { cause: err });
  return err;
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Writes data to file atomically; with exclusive, fails with EEXIST instead of replacing. */
export async function writeFileAtomic(file: string, data: string | Buffer, opts: { exclusive?: boolean } = {}): Promise<void> {
  const tmp = tempName(file);
  try {
    const fh = await fsp.open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (opts.exclusive) {
      try {
        await fsp.link(tmp, file);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
        // No hard links here (some FUSE and FAT file systems): exclusive create, not atomic.
        await fsp.writeFile(file, data, { flag: 'wx', mode: 0o644 });
      }
      await fsp.rm(tmp, { force: true });
    } else {
      await fsp.rename(tmp, file);
    }
    await fsyncDir(path.dirname(file));
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw mapWriteError(err, file);
  }
}
