// fuse-native, with the options ocimount needs, two buffer conventions fixed and
// readdir stats passed through without re-encoding.
import type { OpTable } from './ops';
import { encodeDirents, type DirentSource } from './dirent';
// eslint-disable-next-line @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any
const Fuse: new (...args: any[]) => any = require('fuse-native');
// fuse-native's binding (the module already loaded above): with scripts/patches
// applied it says who made the request whose handler is running.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const binding = require('node-gyp-build')(require('node:path').dirname(require.resolve('fuse-native/package.json')));

/** uid and gid of the caller of the operation being handled (only valid in a handler's synchronous part). */
export function caller(): [number, number] | undefined {
  return typeof binding.fuse_native_caller === 'function' ? (binding.fuse_native_caller() as [number, number]) : undefined;
}

const ERANGE = -34;
const ENODATA = -61;

type Signal = (res: number, ...rest: unknown[]) => void;

// fuse-native copies a getxattr/listxattr answer into the kernel's buffer
// whatever its size; a value longer than the buffer must answer ERANGE instead.
class OverlayFuse extends Fuse {
  _op_getxattr(signal: Signal, path: string, name: string, valueBuf: Buffer, position: number): void {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    (this as any).ops.getxattr(path, name, position, (err: number, value?: Buffer) => {
      if (err) return signal(err, valueBuf.buffer);
      if (!value) return signal(ENODATA, valueBuf.buffer);
      if (valueBuf.length === 0) return signal(value.length, valueBuf.buffer);
      if (value.length > valueBuf.length) return signal(ERANGE, valueBuf.buffer);
      value.copy(valueBuf);
      return signal(value.length, valueBuf.buffer);
    });
  }

  // readdir stats arrive already encoded (see dirent.ts); plain {mode, ino} objects are encoded here.
  _op_readdir(signal: Signal, path: string): void {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    (this as any).ops.readdir(path, (err: number, names?: string[], stats?: unknown[]) => {
      if (err) return signal(err);
      if (stats && stats.length > 0 && !(stats[0] instanceof Uint32Array)) stats = encodeDirents(stats as DirentSource[]);
      return signal(0, names ?? [], stats ?? []);
    });
  }

  _op_listxattr(signal: Signal, path: string, listBuf: Buffer): void {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    (this as any).ops.listxattr(path, (err: number, list?: string[]) => {
      if (err || !list) return signal(err || 0, listBuf.buffer);
      const data = Buffer.from(list.map((n) => n + '\0').join(''));
      if (listBuf.length === 0) return signal(data.length, listBuf.buffer);
      if (data.length > listBuf.length) return signal(ERANGE, listBuf.buffer);
      data.copy(listBuf);
      return signal(data.length, listBuf.buffer);
    });
  }
}

export interface FuseMountOptions {
  allowOther: boolean;
  defaultPermissions: boolean;
  /** Seconds the kernel may cache names and attributes (all changes pass through us). */
  timeout: number;
  /** Mounted ro, so the kernel itself refuses writes (and access(W_OK)) with EROFS. */
  readOnly?: boolean;
}

export interface FuseHandle {
  unmount(): Promise<void>;
}

export function fuseMount(target: string, ops: OpTable, opts: FuseMountOptions): Promise<FuseHandle> {
  const fuse = new OverlayFuse(target, ops, {
    // No per-op timer: fuse-native's default arms a setTimeout for every operation.
    timeout: false,
    // fuse-native has no use_ino/big_writes options, but joins its option list with
    // commas, so they ride along in fsname: use_ino makes the kernel report our
    // st_ino (one number for every name of a hardlink); big_writes lifts 4 KiB writes;
    // negative_timeout lets the kernel remember misses (PATH and library searches)
    // as it remembers hits: a name can only appear through an op on this mount,
    // which replaces the negative dentry.
    fsname: `ocimount,use_ino,big_writes,nonempty,negative_timeout=${opts.timeout}${opts.readOnly ? ',ro' : ''}`,
    subtype: 'ocimount',
    allowOther: opts.allowOther,
    defaultPermissions: opts.defaultPermissions,
    // Page cache kept across opens: lower files never change, and upper files change only through this mount.
    kernelCache: true,
    entryTimeout: opts.timeout,
    attrTimeout: opts.timeout,
  });
  return new Promise((resolve, reject) => {
    fuse.mount((err: Error | null) => {
      if (err) return reject(err);
      resolve({
        unmount: () =>
          new Promise<void>((res, rej) => fuse.unmount((e: Error | null) => (e ? rej(e) : res()))),
      });
    });
  });
}
