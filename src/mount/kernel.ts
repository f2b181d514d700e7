// Kernel overlayfs: performs and undoes a MountSpec with the kernel's own overlay.
// Prefers the new mount API (fsopen + one `lowerdir+` per layer, Linux 6.8+), which has
// no option-string limit; falls back to mount(2) with a one-page data string.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OcimountError, isOcimountError } from '../errors';
import { readLayersRecord, RECORD_FILE } from '../layers/record';
import { isErrno, native, MS_RDONLY } from '../native';
import type { MountSpec } from './spec';
import { hasCapSysAdmin } from './kernel/caps';
import { mountAt, removeMountState, writeMountState } from './state';
import { checkLayerCount, legacyData } from './kernel/options';
import { mkdirp } from '../mkdirp';

/** fsmount(2) attribute: read-only mount. */
const MOUNT_ATTR_RDONLY = 0x1;

export type KernelMountApi = 'auto' | 'fsopen' | 'legacy';

export interface KernelMountOptions {
  /** Which syscall interface to use; 'auto' tries fsopen and falls back to mount(2). Tests force each. */
  api?: KernelMountApi;
}

export interface KernelMountResult {
  /** The spec as mounted (absolute paths, userxattr resolved from the layers record). */
  spec: MountSpec;
  /** Which interface performed the mount. */
  api: 'fsopen' | 'legacy';
}

const FUSE_HINT = 'drop --kernel to mount with FUSE (the default), which needs no privileges';

/** Fails early, before any work, when a kernel mount cannot be made by this process. */
export function checkKernelMountAllowed(): void {
  if (!hasCapSysAdmin()) throw permissionError();
}

function permissionError(cause?: unknown): OcimountError {
  return new OcimountError(
    'PERMISSION',
    `a kernel overlay mount needs root (CAP_SYS_ADMIN), and this process does not have it: ${FUSE_HINT}`,
    {},
    { cause },
  );
}

/**
 * Refuses layers the kernel cannot read as they are, and picks up userxattr from the
 * record: opaque markers written as user.overlay.* are only honoured with userxattr.
 */
function checkLayers(spec: MountSpec): MountSpec {
  const layersDir = spec.layersDir ?? guessLayersDir(spec.lowerdirs);
  if (!layersDir) return spec;
  const rec = readLayersRecord(layersDir);
  if (rec.format === 'oci') {
    throw new OcimountError(
      'UNSUPPORTED',
      `${layersDir} was unpacked in the 'oci' whiteout format (.wh.* files kept as they are), which the kernel's overlayfs ` +
        `does not understand: unpack it again with "ocimount unpack --format overlay", or mount it with FUSE (drop --kernel)`,
      { layersDir, format: rec.format },
    );
  }
  return { ...spec, layersDir, userxattr: spec.userxattr || rec.userxattr };
}

/** LAYERS_DIR when every lower is LAYERS_DIR/N next to a layers.json. */
function guessLayersDir(lowerdirs: string[]): string | undefined {
  const parents = new Set(lowerdirs.map((d) => path.dirname(d)));
  if (parents.size !== 1) return undefined;
  const dir = [...parents][0];
  return fs.existsSync(path.join(dir, RECORD_FILE)) ? dir : undefined;
}

function absolute(spec: MountSpec): MountSpec {
  return {
    ...spec,
    target: path.resolve(spec.target),
    lowerdirs: spec.lowerdirs.map((d) => path.resolve(d)),
    upper: spec.upper ? path.resolve(spec.upper) : undefined,
    work: spec.work ? path.resolve(spec.work) : undefined,
    layersDir: spec.layersDir ? path.resolve(spec.layersDir) : undefined,
  };
}

function prepareDirs(spec: MountSpec): void {
  for (const d of spec.lowerdirs) {
    let st: fs.Stats;
    try {
      st = fs.statSync(d);
    } catch (err) {
      throw new OcimountError('NOT_FOUND', `lower layer ${d} does not exist`, { path: d }, { cause: err });
    }
    if (!st.isDirectory()) throw new OcimountError('USAGE', `lower layer ${d} is not a directory`, { path: d });
  }
  const writable = !!spec.upper && !spec.readOnly;
  if (writable && !spec.work) throw new OcimountError('USAGE', 'a writable kernel overlay needs a work dir next to its upper dir');
  for (const d of writable ? [spec.upper!, spec.work!, spec.target] : [spec.target]) mkdirp(d);
  if (writable && fs.statSync(spec.upper!).dev !== fs.statSync(spec.work!).dev) {
    throw new OcimountError('USAGE', `the upper dir ${spec.upper} and work dir ${spec.work} must be on the same filesystem`);
  }
}

/** The kernel explains fsconfig failures in the fs context's log, read from its fd. */
function fsContextLog(fd: number): string {
  const lines: string[] = [];
  const buf = Buffer.alloc(4096);
  for (let i = 0; i < 16; i++) {
    try {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      lines.push(buf.subarray(0, n).toString('utf8').replace(/^[ewi] /, ''));
    } catch {
      break; // ENODATA: log drained
    }
  }
  return lines.join('; ');
}

class LowerdirPlusUnsupported extends Error {}

function mountFsopen(spec: MountSpec): void {
  const n = native();
  const fd = n.fsopen('overlay');
  let mfd = -1;
  try {
    const set = (key: string, value: string | null): void => {
      try {
        n.fsconfigString(fd, key, value);
      } catch (err) {
        const log = fsContextLog(fd);
        if (key === 'lowerdir+' && isErrno(err, 'EINVAL') && /unknown parameter|Unknown parameter/i.test(log || 'unknown parameter')) {
          throw new LowerdirPlusUnsupported(log);
        }
        throw mountFailed(spec, err, log);
      }
    };
    set('source', 'overlay'); // what /proc/mounts shows as the device, as mount(8) would
    // lowerdir+ appends one layer below those already given: top first, like lowerdir=.
    for (const d of spec.lowerdirs) set('lowerdir+', d);
    if (spec.upper && !spec.readOnly) {
      set('upperdir', spec.upper);
      set('workdir', spec.work!);
    }
    if (spec.userxattr) set('userxattr', null);
    try {
      n.fsconfigCreate(fd);
    } catch (err) {
      throw mountFailed(spec, err, fsContextLog(fd));
    }
    mfd = n.fsmount(fd, spec.readOnly ? MOUNT_ATTR_RDONLY : 0);
    n.moveMount(mfd, spec.target);
  } finally {
    if (mfd >= 0) fs.closeSync(mfd);
    fs.closeSync(fd);
  }
}

function mountLegacy(spec: MountSpec): void {
  const { data, cwd } = legacyData(spec);
  const saved = process.cwd();
  if (cwd) process.chdir(cwd);
  try {
    native().mount('overlay', spec.target, 'overlay', spec.readOnly ? MS_RDONLY : 0, data);
  } catch (err) {
    throw mountFailed(spec, err, '');
  } finally {
    if (cwd) process.chdir(saved);
  }
}

function mountFailed(spec: MountSpec, err: unknown, log: string): OcimountError {
  if (isOcimountError(err)) return err;
  if (isErrno(err, 'EPERM')) return permissionError(err);
  if (isErrno(err, 'EBUSY')) {
    return new OcimountError('BUSY', `${spec.target} is busy (already mounted, or the upper/work dir is in use by another overlay)`, { target: spec.target }, { cause: err });
  }
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  return new OcimountError(
    'MOUNT_FAILED',
    `kernel overlay mount on ${spec.target} failed (${code})${log ? `: ${log}` : ''}`,
    { target: spec.target, errno: code },
    { cause: err },
  );
}

/**
 * Mounts spec (backend 'kernel') with the kernel's overlayfs. Creates upper, work and
 * target dirs when missing. Errors: PERMISSION (not root), LIMIT (> 500 layers, or a
 * data string over one page without lowerdir+), UNSUPPORTED ('oci' format layers),
 * BUSY (target already mounted), MOUNT_FAILED (the kernel's reason attached).
 */
export function mountKernel(input: MountSpec, opts: KernelMountOptions = {}): KernelMountResult {
  let spec = absolute({ ...input, backend: 'kernel' });
  checkLayerCount(spec);
  spec = checkLayers(spec);
  if (!hasCapSysAdmin()) throw permissionError();
  if (mountAt(spec.target)) {
    throw new OcimountError('BUSY', `${spec.target} is already a mount point: unmount it first (ocimount umount ${spec.target})`, { target: spec.target });
  }
  prepareDirs(spec);
  const used = performMount(spec, opts.api ?? 'auto');
  // The state file lets `ocimount umount` and `down` find and describe this mount.
  writeMountState({ version: 1, target: spec.target, backend: 'kernel', spec, startedAt: new Date().toISOString() });
  return { spec, api: used };
}

function performMount(spec: MountSpec, api: KernelMountApi): 'fsopen' | 'legacy' {
  if (api !== 'legacy') {
    try {
      mountFsopen(spec);
      return 'fsopen';
    } catch (err) {
      const noNewApi = err instanceof LowerdirPlusUnsupported || isErrno(err, 'ENOSYS');
      if (!noNewApi || api === 'fsopen') throw err instanceof LowerdirPlusUnsupported ? mountFailed(spec, err, err.message) : mountFailed(spec, err, '');
    }
  }
  mountLegacy(spec);
  return 'legacy';
}

/** Unmounts a kernel overlay. BUSY when files are open inside it (unless lazy). */
export function unmountKernel(target: string, opts: { lazy?: boolean } = {}): void {
  const abs = path.resolve(target);
  if (!mountAt(abs)) throw new OcimountError('NOT_FOUND', `nothing is mounted on ${abs}`, { target: abs });
  try {
    native().umount2(abs, opts.lazy ? 2 /* MNT_DETACH */ : 0);
  } catch (err) {
    if (isErrno(err, 'EPERM')) throw permissionError(err);
    if (isErrno(err, 'EBUSY')) {
      throw new OcimountError('BUSY', `${abs} is busy: a process still uses files in it (close them, or unmount lazily)`, { target: abs }, { cause: err });
    }
    throw new OcimountError('MOUNT_FAILED', `unmounting ${abs} failed (${(err as NodeJS.ErrnoException).code})`, { target: abs }, { cause: err });
  }
  removeMountState(abs);
}
