// Typed access to the N-API addon in native/: the syscalls Node's fs lacks.
// Every function throws a Node-style error (err.code = 'ENOENT', ...) on failure.
import * as path from 'node:path';

export interface NativeAddon {
  mknod(path: string, mode: number, dev: number): void;
  makedev(major: number, minor: number): number;
  major(dev: number): number;
  minor(dev: number): number;
  lsetxattr(path: string, name: string, value: Buffer, flags: number): void;
  /** Throws ENODATA when the attribute is absent. */
  lgetxattr(path: string, name: string): Buffer;
  llistxattr(path: string): string[];
  lremovexattr(path: string, name: string): void;
  /** utimensat(AT_SYMLINK_NOFOLLOW) with nanosecond precision. */
  lutimens(path: string, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void;
  renameat2(oldPath: string, newPath: string, flags: number): void;
  mount(source: string, target: string, fstype: string, flags: number, data: string | null): void;
  umount2(target: string, flags: number): void;
  fsopen(fstype: string): number;
  /** value null sets a flag parameter. */
  fsconfigString(fd: number, key: string, value: string | null): void;
  fsconfigCreate(fd: number): void;
  fsmount(fd: number, attrFlags: number): number;
  moveMount(mountFd: number, target: string): void;
}

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
export const MNT_FORCE = 1;
export const MNT_DETACH = 2;
export const MS_RDONLY = 1;

let cached: NativeAddon | undefined;

/** Loads the addon lazily so that pure modules never need a native build. */
export function native(): NativeAddon {
  if (cached) return cached;
  // dist/src/native/index.js -> <root>/native/build/Release
  const root = path.resolve(__dirname, '..', '..', '..');
  const file = path.join(root, 'native', 'build', 'Release', 'ocimount_native.node');
  try {
    cached = require(file) as NativeAddon;
  } catch (err) {
    const e = new Error(
      `ocimount's native addon is not built (${file}): run "npm run build:native" (needs python3, make, g++)`,
    );
    (e as NodeJS.ErrnoException).code = 'ENATIVE';
    throw e;
  }
  return cached;
}

/** True when err is a Node-style error with the given errno code. */
export function isErrno(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}
