// Performing a FUSE overlay mount: checks that give clear errors, serving in
// this process (serve), or in a detached background server (mountFuse).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcimountError } from '../../errors';
import { traceTable, openTraceSink } from '../../trace/trace';
import { RECORD_FILE, readLayersRecord } from '../../layers/record';
import { layerDescs, layersRootless } from '../lowers';
import type { MountSpec } from '../spec';
import { mountAt, readMountState, removeMountState, statePaths, writeMountState } from '../state';
import { fuseMount } from './adapter';
import { adoptRootRecord, cleanWork } from './copyup';
import { OverlayFs, opTable } from './ops';
import { mkdirp } from '../../mkdirp';

export { OverlayFs, opTable } from './ops';

/** Seconds the kernel caches names and attributes. Safe to be long: every change passes through the server. */
export const CACHE_TIMEOUT = 3600;

/** Explains why /dev/fuse cannot be used, or returns undefined when it can. */
export function fuseDeviceProblem(dev = '/dev/fuse'): string | undefined {
  try {
    fs.accessSync(dev, fs.constants.R_OK | fs.constants.W_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${dev} does not exist: load the fuse module (modprobe fuse) or, in a container, pass the device in`;
    let mode = '?';
    try {
      mode = (fs.statSync(dev).mode & 0o7777).toString(8).padStart(4, '0');
    } catch {
      // keep '?'
    }
    return `${dev} is not accessible to uid ${process.getuid!()} (mode ${mode}): a standard system makes it 0666 via udev; as root run chmod 0666 ${dev}`;
  }
}

function mustBeDir(p: string, what: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (err) {
    // A FUSE mount whose server died answers every call with ENOTCONN.
    if ((err as NodeJS.ErrnoException).code === 'ENOTCONN') {
      throw new OcimountError('BUSY', `${what} ${p} is a FUSE mount whose server is gone; run "ocimount umount ${p}" first`, { path: p }, { cause: err });
    }
    throw new OcimountError('NOT_FOUND', `${what} ${p} does not exist`, { path: p }, { cause: err });
  }
  if (!st.isDirectory()) throw new OcimountError('USAGE', `${what} ${p} is not a directory`, { path: p });
}

/** Validates a FUSE spec and prepares upper/work; throws OcimountError with one clear message. */
export function checkFuseSpec(spec: MountSpec): void {
  mustBeDir(spec.target, 'mountpoint');
  if (process.getuid!() !== 0) {
    try {
      fs.accessSync(spec.target, fs.constants.W_OK);
    } catch {
      // fusermount's rule; libfuse would only say "fuse failed".
      throw new OcimountError('PERMISSION', `mountpoint ${spec.target} is not writable by uid ${process.getuid!()}: fusermount lets users mount only on directories they may write to`, { target: spec.target });
    }
  }
  const existing = mountAt(spec.target);
  if (existing) {
    throw new OcimountError('BUSY', `${spec.target} is already a mount point (${existing.fstype}); run "ocimount umount ${spec.target}" first`, {
      target: spec.target,
    });
  }
  if (spec.lowerdirs.length === 0) throw new OcimountError('USAGE', 'no lower layers given');
  if (process.getuid!() !== 0 && spec.layersDir && fs.existsSync(path.join(spec.layersDir, RECORD_FILE))) {
    const rec = readLayersRecord(spec.layersDir);
    // Without CAP_SYS_ADMIN, trusted.* xattrs cannot be read: opaque directories would leak their lower contents.
    if (rec.format === 'overlay' && !rec.userxattr) {
      throw new OcimountError(
        'PERMISSION',
        `${spec.layersDir} was unpacked for the kernel overlay (opaque directories marked with trusted.overlay.opaque), which uid ${process.getuid!()} cannot read: mount it as root, or unpack it again as this user (--format oci) or with --userxattr`,
        { layersDir: spec.layersDir },
      );
    }
  }
  for (const l of spec.lowerdirs) mustBeDir(l, 'layer');
  if (!spec.readOnly) {
    if (!spec.upper || !spec.work) throw new OcimountError('USAGE', 'a writable mount needs --upper and --work (or use --read-only)');
    mkdirp(spec.upper);
    mkdirp(spec.work);
    if (fs.statSync(spec.upper).dev !== fs.statSync(spec.work).dev) {
      throw new OcimountError('USAGE', `work dir ${spec.work} must be on the same filesystem as upper dir ${spec.upper}`);
    }
  }
  const devProblem = fuseDeviceProblem();
  if (devProblem) throw new OcimountError('PERMISSION', devProblem);
}

export interface ServeHandle {
  target: string;
  close(): Promise<void>;
}

/** Mounts and serves the overlay from this process until close(). */
export async function serve(spec: MountSpec): Promise<ServeHandle> {
  checkFuseSpec(spec);
  const privileged = process.getuid!() === 0;
  if (!spec.readOnly) cleanWork(spec.work!);
  if (!spec.readOnly && !privileged) adoptRootRecord(spec.upper!, spec.lowerdirs);
  const ofs = new OverlayFs({ layers: layerDescs(spec), work: spec.work, privileged, ...(!privileged && layersRootless(spec) ? { symlinkOwner: { uid: 0, gid: 0 } } : {}) });
  let table = opTable(ofs);
  if (spec.trace !== undefined) table = traceTable(table, ofs, openTraceSink(spec.trace));
  // Modes asked for by clients arrive with their umask already applied; ours must not strip more.
  process.umask(0);
  let handle;
  try {
    handle = await fuseMount(spec.target, table, {
      allowOther: !!spec.allowOther,
      // The kernel enforces the presented permissions whenever someone other than
      // the mounting user can reach the mount (root mounts, --allow-other). A rootless
      // mount without --allow-other serves only its owner, who is root of the image
      // (as in a rootless container) and so is not held to root-owned modes.
      defaultPermissions: privileged || !!spec.allowOther,
      timeout: CACHE_TIMEOUT,
      readOnly: !!spec.readOnly,
    });
  } catch (err) {
    const msg = (err as Error).message;
    if (/in use/i.test(msg)) throw new OcimountError('BUSY', `${spec.target} is in use (already mounted?)`, {}, { cause: err });
    const hint = spec.allowOther && process.getuid!() !== 0 ? ' (--allow-other needs user_allow_other in /etc/fuse.conf)' : '';
    throw new OcimountError('MOUNT_FAILED', `FUSE mount at ${spec.target} failed: ${msg}${hint}`, {}, { cause: err });
  }
  return { target: spec.target, close: () => handle.unmount() };
}

export interface MountResult {
  target: string;
  pid: number;
  log: string;
}

/** The compiled background server entry point. */
export const SERVER_SCRIPT = path.join(__dirname, 'server.js');

/**
 * Starts a detached server for the mount and returns once the mountpoint is
 * serving. The server's output goes to a log file whose path is returned.
 */
export async function mountFuse(spec: MountSpec, opts: { timeoutMs?: number } = {}): Promise<MountResult> {
  checkFuseSpec(spec);
  const { log } = statePaths(spec.target);
  const fd = fs.openSync(log, 'w', 0o600);
  const child = spawn(process.execPath, [SERVER_SCRIPT, JSON.stringify(spec)], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, OCIMOUNT_LOG: log },
  });
  fs.closeSync(fd);
  let exited: number | null = null;
  child.on('exit', (code, sig) => (exited = code ?? (sig ? 128 : 1)));
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  try {
    for (;;) {
      const m = mountAt(spec.target);
      if (m && m.fstype.startsWith('fuse') && readMountState(spec.target)?.pid === child.pid) break;
      if (exited !== null) {
        const text = fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
        // The server's own last word, not the tail of a stack trace printed after it.
        const last = [...text].reverse().find((l) => l.startsWith('ocimount-server: ')) ?? text[text.length - 1] ?? `server exited with status ${exited}`;
        // The server reports OcimountErrors as "CODE: message".
        const m2 = /^ocimount-server: ([A-Z_]+): (.*)$/.exec(last);
        // libfuse and fusermount say why a mount failed on lines of their own, before ours.
        const why = text.filter((l) => /^(fuse|fusermount3?): /.test(l)).map((l) => l.replace(/^[^:]+: /, ''));
        if (m2) {
          const msg = why.length ? `${m2[2]} (${why.join('; ')})` : m2[2];
          throw new OcimountError(m2[1] as never, m2[1] === 'INTERNAL' ? `mount server failed: ${msg} (log: ${log})` : msg, { log });
        }
        throw new OcimountError('MOUNT_FAILED', `mount server failed: ${last} (log: ${log})`, { log });
      }
      if (Date.now() > deadline) {
        child.kill('SIGTERM');
        throw new OcimountError('MOUNT_FAILED', `mount at ${spec.target} did not come up in time (log: ${log})`, { log });
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    child.unref();
  }
  return { target: spec.target, pid: child.pid!, log };
}

/**
 * Unmounts on a signal. A close right after a client's last call can find the mount
 * still busy for a moment: retry for a while, then detach it lazily rather than exit
 * and leave a mount whose server is gone.
 */
async function closeMount(target: string, close: () => Promise<void>): Promise<void> {
  for (let i = 0; i < 20; i++) {
    try {
      await close();
      return;
    } catch {
      if (!mountAt(target)) return; // unmounted from outside: nothing left to do
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (mountAt(target)) spawnSync(process.getuid!() === 0 ? 'umount' : 'fusermount3', process.getuid!() === 0 ? ['-l', target] : ['-uz', target]);
}

/**
 * Serves a mount in this process until SIGINT/SIGTERM or until it is unmounted
 * from outside, recording it in the state file so `ocimount umount` finds it.
 * Resolves when the mount is gone.
 */
export async function runServer(spec: MountSpec, onReady?: () => void): Promise<void> {
  const handle = await serve(spec);
  writeMountState({
    version: 1,
    target: spec.target,
    backend: 'fuse',
    pid: process.pid,
    log: process.env.OCIMOUNT_LOG,
    spec,
    startedAt: new Date().toISOString(),
  });
  onReady?.();
  await new Promise<void>((resolve) => {
    let closing = false;
    const stop = () => {
      if (closing) return;
      closing = true;
      clearInterval(watch);
      closeMount(spec.target, () => handle.close())
        .finally(() => {
          if (readMountState(spec.target)?.pid === process.pid) removeMountState(spec.target);
          resolve();
        });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // Unmounted from outside (fusermount -u, umount): nothing left to serve.
    const watch = setInterval(() => {
      if (!mountAt(spec.target)) stop();
    }, 1000);
  });
}
