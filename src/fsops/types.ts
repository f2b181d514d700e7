// The one interface through which unpacking touches ownership, device nodes,
// xattrs and times. Two implementations (root, rootless) are chosen once, at
// construction (cf. umoci pkg/fseval), never per call.

/** A point in time with nanosecond precision (seconds may be negative). */
export interface Timespec {
  sec: number;
  nsec: number;
}

export type NodeKind = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo';

export interface NodeMeta {
  uid: number;
  gid: number;
  /** Permission bits with setuid/setgid/sticky (07777). */
  mode: number;
  mtime: Timespec;
  atime?: Timespec;
  devmajor?: number;
  devminor?: number;
}

/** A node we created: its path, and an open fd when we hold one (regular files). */
export interface NodeRef {
  path: string;
  kind: NodeKind;
  fd?: number;
}

export interface FsOps {
  readonly rootless: boolean;
  /** A char or block device (root: mknod; rootless: an empty regular file, its identity recorded by own()). */
  mkdevice(path: string, kind: 'char' | 'block', major: number, minor: number): void;
  mkfifo(path: string): void;
  /** An overlayfs whiteout: a 0/0 character device. */
  mkwhiteout(path: string): void;
  /** Ownership of a node this process just created (root: lchown/fchown, skipped when already ours; rootless: the override_stat record, which also keeps mode and type). Call first. */
  own(node: NodeRef, meta: NodeMeta): void;
  /** Never follows a symlink. Throws Node-style errors (EPERM for a namespace we may not write). */
  setXattr(path: string, name: string, value: Buffer): void;
  /** Final permission bits (after own() and xattrs, since chown clears setuid and capabilities). Symlinks are skipped. */
  chmod(node: NodeRef, mode: number): void;
  /** Times with nanosecond precision, never through a symlink. Call last. */
  setTimes(path: string, meta: NodeMeta): void;
}
