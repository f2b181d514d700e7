// Plain data the overlay model works on. Nothing here touches the disk:
// callers inject an FsView (real disk, or a map in unit tests).

/** The subset of fs.Stats the model needs. fs.Stats satisfies it. */
export interface StatLike {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: number;
  dev: number;
  rdev: number;
  blocks: number;
  blksize: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** What the model may ask of a filesystem. Absent answers are `undefined`, never exceptions. */
export interface FsView {
  lstat(absPath: string): StatLike | undefined;
  /** Names in a directory (no . and ..), or undefined when it is not a readable directory. */
  readdir(absPath: string): string[] | undefined;
  /** Names of the extended attributes of a path (never follows symlinks). */
  listxattr(absPath: string): string[];
  getxattr(absPath: string, name: string): Buffer | undefined;
}

export interface LayerDesc {
  /** Absolute directory holding the layer's tree. */
  root: string;
  /** Short name for traces and `which`: "upper", "2:sha256:1a2b3c4d5e6f", or the dir name. */
  label: string;
  /** Lower layers never change while mounted; the model indexes them once. */
  immutable: boolean;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;

export function isDir(st: StatLike): boolean {
  return (st.mode & S_IFMT) === S_IFDIR;
}
