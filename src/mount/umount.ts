// Ending a mount made by any backend: unmount the target (umount2 as root,
// fusermount3 otherwise), stop the server recorded in its state file, and
// forget the state. A dead FUSE server's mount is cleaned up the same way.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcimountError } from '../errors';
import { MNT_DETACH, isErrno, native } from '../native';
import { isServerProcess, mountAt, readMountState, removeMountState, statePaths } from './state';

export interface UnmountOptions {
  /** Detach now, finish when no longer busy (umount -l). */
  lazy?: boolean;
}

function busy(target: string): OcimountError {
  return new OcimountError('BUSY', `${target} is busy (a process has a file open or its cwd inside); close it, or use --lazy to detach now`, {
    target,
  });
}

function detach(target: string, lazy: boolean): void {
  if (process.getuid!() === 0) {
    try {
      native().umount2(target, lazy ? MNT_DETACH : 0);
      return;
    } catch (err) {
      if (isErrno(err, 'EBUSY')) throw busy(target);
      if (isErrno(err, 'EINVAL')) return; // no longer a mount point
      throw new OcimountError('MOUNT_FAILED', `unmounting ${target} failed: ${(err as Error).message}`, {}, { cause: err });
    }
  }
  const r = spawnSync('fusermount3', ['-u', ...(lazy ? ['-z'] : []), target], { encoding: 'utf8' });
  if (r.status === 0) return;
  const msg = (r.stderr || r.error?.message || '').trim();
  if (/busy/i.test(msg)) throw busy(target);
  if (/not permitted|permission/i.test(msg)) throw new OcimountError('PERMISSION', `cannot unmount ${target}: ${msg}`);
  throw new OcimountError('MOUNT_FAILED', `unmounting ${target} failed: ${msg}`);
}

async function stopServer(pid: number): Promise<void> {
  if (!isServerProcess(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    if (!isServerProcess(pid)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** Unmounts TARGET and stops its server. Throws NOT_FOUND when nothing is mounted or recorded there. */
export async function unmount(target: string, opts: UnmountOptions = {}): Promise<void> {
  const abs = path.resolve(target);
  const state = readMountState(abs);
  const m = mountAt(abs);
  if (!m && !state) throw new OcimountError('NOT_FOUND', `${abs} is not mounted`, { target: abs });
  if (m) detach(abs, !!opts.lazy);
  if (state?.pid && state.pid !== process.pid) await stopServer(state.pid);
  removeMountState(abs);
  // The server's log has served its purpose once the mount is gone, unless a trace
  // went into it ("--trace" with no file): then it is the user's to read and remove.
  if (state && state.spec?.trace !== '-') fs.rmSync(statePaths(abs).log, { force: true });
}
