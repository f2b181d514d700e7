// FsOps without privileges: no chown, no mknod of devices. The image's
// uid:gid:mode and device identity go into user.containers.override_stat
// (see override-stat.ts), devices become empty regular files, and the real
// mode keeps the owner able to read, write and traverse (so a 000 file or a
// 0555 directory still extracts, can be served by a FUSE process running as
// this user, and can be removed again). The exact mode lives in the record.
import * as fs from 'node:fs';
import { native } from '../native';
import { OVERRIDE_STAT_XATTR, formatOverrideStat } from './override-stat';
import type { OverrideType } from './override-stat';
import { chmodNode } from './root';
import type { FsOps, NodeKind, NodeMeta, NodeRef } from './types';

const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;

const TYPE: Record<NodeKind, OverrideType> = { file: 'file', dir: 'dir', symlink: 'symlink', char: 'char', block: 'block', fifo: 'pipe' };

/** The real mode a rootless node gets on disk. */
export function rootlessRealMode(kind: NodeKind, mode: number): number {
  return (mode & 0o777) | (kind === 'dir' ? 0o700 : 0o600);
}

export class RootlessFsOps implements FsOps {
  readonly rootless = true;
  private readonly n = native();

  mkdevice(path: string): void {
    fs.closeSync(fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600));
  }

  mkfifo(path: string): void {
    this.n.mknod(path, S_IFIFO | 0o600, 0); // FIFOs need no privilege
  }

  mkwhiteout(path: string): void {
    // Linux >= 5.8 lets unprivileged users create the 0/0 whiteout device.
    this.n.mknod(path, S_IFCHR, 0);
  }

  own(node: NodeRef, meta: NodeMeta): void {
    // user.* xattrs are only allowed on regular files and directories (symlinks and
    // FIFOs get EPERM), which is also all that fuse-overlayfs reads it on.
    if (node.kind === 'symlink' || node.kind === 'fifo') return;
    const value = formatOverrideStat({
      uid: meta.uid,
      gid: meta.gid,
      mode: meta.mode,
      type: TYPE[node.kind],
      major: meta.devmajor,
      minor: meta.devminor,
    });
    this.n.lsetxattr(node.path, OVERRIDE_STAT_XATTR, Buffer.from(value), 0);
  }

  setXattr(path: string, name: string, value: Buffer): void {
    this.n.lsetxattr(path, name, value, 0);
  }

  chmod(node: NodeRef, mode: number): void {
    // Device stand-ins are regular files on disk.
    const kind: NodeKind = node.kind === 'char' || node.kind === 'block' ? 'file' : node.kind;
    chmodNode({ ...node, kind }, rootlessRealMode(kind, mode));
  }

  setTimes(path: string, meta: NodeMeta): void {
    const a = meta.atime ?? meta.mtime;
    this.n.lutimens(path, a.sec, a.nsec, meta.mtime.sec, meta.mtime.nsec);
  }
}
