// fsops: the only code that touches ownership, device nodes, xattrs and times.
import { RootFsOps } from './root';
import { RootlessFsOps } from './rootless';
import type { FsOps } from './types';

export * from './types';
export * from './override-stat';
export { RootFsOps } from './root';
export { RootlessFsOps, rootlessRealMode } from './rootless';

/** Whether this process can chown and mknod (effective uid 0). */
export function isPrivileged(): boolean {
  return process.geteuid?.() === 0;
}

/** Picks the implementation once: rootless when asked or when not running as root. */
export function createFsOps(opts: { rootless?: boolean } = {}): FsOps {
  const rootless = opts.rootless ?? !isPrivileged();
  return rootless ? new RootlessFsOps() : new RootFsOps();
}
