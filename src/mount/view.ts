// The real-disk FsView the overlay model is given: synchronous calls on the JS
// thread (measured faster than the libuv pool for metadata under fuse-native,
// which funnels every op through this one thread anyway), and absent answers as
// undefined rather than exceptions, because exceptions are slow in hot paths.
import * as fs from 'node:fs';
import type { FsView, StatLike } from '../overlay';
import { native } from '../native';

export function diskView(): FsView {
  const n = native();
  return {
    lstat(p: string): StatLike | undefined {
      try {
        return fs.lstatSync(p, { throwIfNoEntry: false });
      } catch {
        return undefined; // ENOTDIR, EACCES: not there as far as the overlay is concerned
      }
    },
    readdir(p: string): string[] | undefined {
      try {
        return fs.readdirSync(p);
      } catch {
        return undefined;
      }
    },
    listxattr(p: string): string[] {
      try {
        return n.llistxattr(p);
      } catch {
        return [];
      }
    },
    getxattr(p: string, name: string): Buffer | undefined {
      try {
        return n.lgetxattr(p, name);
      } catch {
        return undefined;
      }
    },
  };
}
