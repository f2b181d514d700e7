// A lock file around index.json read-modify-write, so two pulls into one layout
// cannot lose each other's entries. Blobs need no lock: each writer has its own
// temp file and the rename publishes identical content. A lock whose owner pid
// is gone is stale and taken over.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { OcimountError } from '../errors';

export const LOCK_FILE = 'index.json.lock';

/** Whether the lock may still be held: its pid is alive, or it is too young to judge (being written). */
function ownerAlive(file: string): boolean {
  let text: string;
  let age: number;
  try {
    age = Date.now() - fs.statSync(file).mtimeMs;
    text = fs.readFileSync(file, 'utf8').trim();
  } catch {
    return true; // just removed: retry
  }
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) return age < 2000;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs fn holding layout/index.json.lock; BUSY after timeoutMs of waiting. */
export async function withLayoutLock<T>(layout: string, fn: () => Promise<T> | T, timeoutMs = 30_000): Promise<T> {
  const file = path.join(layout, LOCK_FILE);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await fsp.open(file, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!ownerAlive(file)) {
        await fsp.rm(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new OcimountError('BUSY', `${layout} is locked by another process (${file})`, { layout });
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  try {
    return await fn();
  } finally {
    await fsp.rm(file, { force: true });
  }
}
