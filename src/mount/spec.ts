// A mount described as data before it is performed (cf. containerd's mount.Mount).
// `--dry-run` prints it; the state file written next to a mount lets `umount`/`down` read it back.

export type MountBackend = 'fuse' | 'kernel';

export interface MountSpec {
  backend: MountBackend;
  /** The merged view. Absolute path. */
  target: string;
  /** Lower layer directories, TOP FIRST (overlayfs's lowerdir order). Absolute paths. */
  lowerdirs: string[];
  /** Writable upper dir; absent for a read-only mount. */
  upper?: string;
  /** Scratch dir on the same filesystem as upper (kernel: workdir; fuse: staging for copy-up). */
  work?: string;
  /** LAYERS_DIR the lowers came from, when mounted from an unpack (gives traces layer names). */
  layersDir?: string;
  /** Kernel overlay: use user.overlay.* xattrs (inside a user namespace). */
  userxattr?: boolean;
  /** FUSE: let other users see the mount (allow_other). */
  allowOther?: boolean;
  readOnly?: boolean;
  /** FUSE: trace file, or '-' for stderr. */
  trace?: string;
}

/** Overlay's lowerdir option value: top first, ':' separated. */
export function lowerdirOption(spec: MountSpec): string {
  return spec.lowerdirs.join(':');
}
