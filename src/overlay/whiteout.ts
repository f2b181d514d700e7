// The on-disk forms of whiteouts and opaque directories, in every format
// the overlay model accepts (kernel overlay, userxattr overlay, OCI tar).
import { S_IFCHR, S_IFMT, type StatLike } from './types';

export const WH_PREFIX = '.wh.';
/** OCI opaque marker: a file of this name makes its directory opaque. */
export const OPAQUE_MARKER = '.wh..wh..opq';
export const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];

/** Overlay's whiteout: a character device with device number 0/0. */
export function isCharWhiteout(st: StatLike): boolean {
  return (st.mode & S_IFMT) === S_IFCHR && st.rdev === 0;
}

/** For an OCI `.wh.NAME` file, NAME; for the opaque marker or any other name, undefined. */
export function whiteoutTarget(name: string): string | undefined {
  if (!name.startsWith(WH_PREFIX) || name === OPAQUE_MARKER) return undefined;
  const target = name.slice(WH_PREFIX.length);
  return target.length > 0 ? target : undefined;
}

/** Names the merged view never shows: OCI whiteouts and the opaque marker. */
export function isMarkerName(name: string): boolean {
  return name.startsWith(WH_PREFIX);
}

/** Extended attributes that belong to the overlay machinery: hidden from clients and refused for set. */
export function isInternalXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.') || name.startsWith('user.containers.');
}

/** Whether an opaque xattr value means "opaque" (overlayfs writes "y"). */
export function isOpaqueValue(v: Buffer | undefined): boolean {
  return v !== undefined && v.length > 0 && v[0] === 0x79; // 'y'
}
