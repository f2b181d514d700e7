// Coded warnings: recoverable problems while unpacking (an entry refused or
// neutralised, an xattr we may not set). They name the layer and the entry;
// with `strict` the unsafe ones become UNSAFE_PATH errors.

export type UnpackWarningCode =
  | 'ABSOLUTE_PATH' // leading "/" stripped
  | 'DOTDOT_PATH' // entry with ".." refused
  | 'BAD_PATH' // NUL in name, empty name...
  | 'SYMLINK_PARENT' // entry through a symlink of this layer refused
  | 'PARENT_NOT_DIR' // a non-directory in the way of a path replaced by a directory
  | 'HARDLINK_ESCAPE' // hardlink target outside the layer or through a symlink refused
  | 'HARDLINK_MISSING' // hardlink target not (yet) in the layer
  | 'XATTR_SKIPPED' // an xattr this process may not set (trusted.* rootless, ...)
  | 'OVERLAY_XATTR_DROPPED' // an overlay.* xattr from the tar would change the union's meaning
  | 'UNSUPPORTED_ENTRY' // sparse files, volume labels, ...
  | 'COMPRESSION_MISMATCH' // bytes disagree with the media type
  | 'AUFS_META' // .wh..wh.* (aufs metadata) skipped in the overlay format
  | 'ROOTLESS_OWNERSHIP'; // ownership of a symlink or FIFO cannot be recorded without privileges

export interface UnpackWarning {
  code: UnpackWarningCode;
  message: string;
  layer?: number;
  entry?: string;
}

/** Warnings that mean the archive tried to write outside its layer. */
export const UNSAFE_WARNINGS: ReadonlySet<UnpackWarningCode> = new Set(['ABSOLUTE_PATH', 'DOTDOT_PATH', 'SYMLINK_PARENT', 'HARDLINK_ESCAPE', 'BAD_PATH']);
