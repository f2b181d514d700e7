// How an entry is presented to clients: ownership and devices from the override
// record, merged directories with nlink 1 (as the kernel overlay does, which
// keeps `find` happy), and stable inode numbers shared by all names of a file.
import type { Resolved } from './stack';
import { S_IFMT, type StatLike } from './types';

export interface PresentedStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: number;
  rdev: number;
  blocks: number;
  blksize: number;
  atime: number;
  mtime: number;
  ctime: number;
}

/**
 * Presented inode numbers: one small number per real (dev, ino) pair, so every
 * name of a hardlinked file shows one number, numbers never collide across
 * layers on different filesystems, and they fit the 32 bits fuse-native passes.
 * A copied-up file is aliased to the number its lower origin had.
 */
export class InodeMap {
  private readonly map = new Map<number | string, number>();
  private next = 2;

  private key(dev: number, ino: number): number | string {
    const k = dev * 4294967296 + ino;
    return Number.isSafeInteger(k) ? k : `${dev}:${ino}`;
  }

  get(dev: number, ino: number): number {
    const k = this.key(dev, ino);
    let n = this.map.get(k);
    if (n === undefined) {
      n = this.next++;
      this.map.set(k, n);
    }
    return n;
  }

  /** Drops (dev, ino) once no name refers to it, so a reused inode gets a number of its own. */
  forget(dev: number, ino: number): void {
    this.map.delete(this.key(dev, ino));
  }

  /** Makes (dev, ino) present as `presented` from now on (copy-up keeps the origin's number). */
  alias(dev: number, ino: number, presented: number): void {
    this.map.set(this.key(dev, ino), presented);
  }
}

/** makedev as glibc encodes it (what st_rdev holds). */
export function makedev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/**
 * The stat a client sees for a resolved entry. `st` is the winner's current stat
 * (fresh for upper entries); `origin` is the stat whose inode numbers the entry
 * (a directory: its bottom-most part) is known by.
 */
export function presentStat(r: Resolved, st: StatLike, origin: StatLike, inodes: InodeMap): PresentedStat {
  const ov = r.entry.ov;
  let mode = st.mode;
  let uid = st.uid;
  let gid = st.gid;
  let rdev = st.rdev;
  if (ov) {
    uid = ov.uid;
    gid = ov.gid;
    mode = ((ov.type ?? mode) & S_IFMT) | ov.perm;
    if (ov.major !== undefined) rdev = makedev(ov.major, ov.minor ?? 0);
  }
  const merged = r.dirLayers !== undefined && r.dirLayers.length > 1;
  return {
    mode,
    uid,
    gid,
    size: st.size,
    nlink: merged ? 1 : st.nlink,
    ino: inodes.get(origin.dev, origin.ino),
    rdev,
    blocks: st.blocks,
    blksize: st.blksize,
    atime: st.atimeMs,
    mtime: st.mtimeMs,
    ctime: st.ctimeMs,
  };
}
