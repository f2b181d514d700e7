// Mount state files and mount-table queries, shared by every backend:
// one JSON file per mountpoint (pid of a background server, its log, the spec),
// so that `umount` can end a mount made by another process.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MountSpec } from './spec';
import { mkdirp } from '../mkdirp';

export interface MountState {
  version: 1;
  target: string;
  backend: MountSpec['backend'];
  /** Process serving the mount (FUSE), when there is one. */
  pid?: number;
  log?: string;
  spec: MountSpec;
  startedAt: string;
}

function usable(dir: string): boolean {
  try {
    mkdirp(dir, 0o700);
    const st = fs.statSync(dir);
    return st.uid === process.getuid!() && st.isDirectory();
  } catch {
    return false;
  }
}

/** /run/ocimount for root; $XDG_RUNTIME_DIR/ocimount for others, else a private dir in tmp. */
export function stateDir(): string {
  const uid = process.getuid!();
  const candidates =
    uid === 0
      ? ['/run/ocimount', path.join(os.tmpdir(), 'ocimount-0')]
      : [process.env.XDG_RUNTIME_DIR ? path.join(process.env.XDG_RUNTIME_DIR, 'ocimount') : '', path.join(os.tmpdir(), `ocimount-${uid}`)];
  for (const c of candidates) if (c && usable(c)) return c;
  throw new Error(`no usable state directory for ocimount (tried ${candidates.filter(Boolean).join(', ')})`);
}

function keyOf(target: string): string {
  return createHash('sha256').update(path.resolve(target)).digest('hex').slice(0, 16);
}

export function statePaths(target: string): { state: string; log: string } {
  const dir = stateDir();
  const k = keyOf(target);
  return { state: path.join(dir, `${k}.json`), log: path.join(dir, `${k}.log`) };
}

export function writeMountState(st: MountState): void {
  const file = statePaths(st.target).state;
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(st, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function readMountState(target: string): MountState | undefined {
  try {
    return JSON.parse(fs.readFileSync(statePaths(target).state, 'utf8')) as MountState;
  } catch {
    return undefined;
  }
}

export function removeMountState(target: string): void {
  fs.rmSync(statePaths(target).state, { force: true });
}

export interface MountEntry {
  target: string;
  fstype: string;
  source: string;
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The mount table entry for exactly this path (the top-most one), if it is a mount point. */
export function mountAt(target: string): MountEntry | undefined {
  const abs = path.resolve(target);
  let found: MountEntry | undefined;
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const sep = line.indexOf(' - ');
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    if (unescape(left[4]) === abs) found = { target: abs, fstype: right[0], source: unescape(right[1]) };
  }
  return found;
}

/** Whether a process is alive and looks like an ocimount server (pids get reused). */
export function isServerProcess(pid: number): boolean {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmd.includes('ocimount') || cmd.includes('server.js');
  } catch {
    return false;
  }
}
