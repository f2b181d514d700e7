// FsOps as root: real owners, real device nodes, any xattr namespace.
import * as fs from 'node:fs';
import { native } from '../native';
import type { FsOps, NodeMeta, NodeRef } from './types';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

export class RootFsOps implements FsOps {
  readonly rootless = false;
  private readonly n = native();

  mkdevice(path: string, kind: 'char' | 'block', major: number, minor: number): void {
    this.n.mknod(path, (kind === 'char' ? S_IFCHR : S_IFBLK) | 0o600, this.n.makedev(major, minor));
  }

  mkfifo(path: string): void {
    this.n.mknod(path, S_IFIFO | 0o600, 0);
  }

  mkwhiteout(path: string): void {
    this.n.mknod(path, S_IFCHR, 0);
  }

  /** Nodes we create are already owned by our euid:egid (0:0 as root; parents are 0700, so no setgid inheritance). */
  private readonly ids = { uid: process.geteuid?.() ?? -1, gid: process.getegid?.() ?? -1 };

  own(node: NodeRef, meta: NodeMeta): void {
    if (meta.uid === this.ids.uid && meta.gid === this.ids.gid) return; // saves a syscall per entry
    if (node.fd !== undefined) fs.fchownSync(node.fd, meta.uid, meta.gid);
    else fs.lchownSync(node.path, meta.uid, meta.gid);
  }

  setXattr(path: string, name: string, value: Buffer): void {
    this.n.lsetxattr(path, name, value, 0);
  }

  chmod(node: NodeRef, mode: number): void {
    chmodNode(node, mode);
  }

  setTimes(path: string, meta: NodeMeta): void {
    const a = meta.atime ?? meta.mtime;
    this.n.lutimens(path, a.sec, a.nsec, meta.mtime.sec, meta.mtime.nsec);
  }
}

/** chmod without following symlinks: through our fd, an O_NOFOLLOW fd for dirs, the path for nodes we just made. */
export function chmodNode(node: NodeRef, mode: number): void {
  if (node.kind === 'symlink') return; // Linux has no lchmod; a symlink's mode means nothing
  if (node.fd !== undefined) {
    fs.fchmodSync(node.fd, mode);
    return;
  }
  if (node.kind === 'dir') {
    const fd = fs.openSync(node.path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
    try {
      fs.fchmodSync(fd, mode);
    } finally {
      fs.closeSync(fd);
    }
    return;
  }
  // Devices and FIFOs cannot be opened safely; lstat proves the path is still not a symlink.
  if (fs.lstatSync(node.path).isSymbolicLink()) return;
  fs.chmodSync(node.path, mode);
}
