// `user.containers.override_stat`: what a rootless unpack could not make real
// (ownership, setuid bits, device nodes) recorded as an xattr, in the format
// containers/storage writes and fuse-overlayfs reads:
//   "UID:GID:MODE" or "UID:GID:MODE:TYPE", MODE octal permission bits (e.g. 0755, 4755),
//   TYPE one of file, dir, symlink, pipe, socket, block-MAJOR-MINOR, char-MAJOR-MINOR.
// The text format lives in fsops/override-stat (the unpacker writes it); this is
// the overlay's st_mode-shaped view of the same record.
import { OVERRIDE_STAT_XATTR, OVERRIDE_TYPE_BITS, formatOverrideStat, overrideTypeOf, parseOverrideStat } from '../fsops/override-stat';

export const OVERRIDE_XATTR = OVERRIDE_STAT_XATTR;

export interface StatOverride {
  uid: number;
  gid: number;
  /** Permission bits only (07777). */
  perm: number;
  /** File type bits (S_IFMT part) when the record names a type. */
  type?: number;
  /** Device major/minor for block-/char- types. */
  major?: number;
  minor?: number;
}

/** A record, or undefined when it is malformed (a bad record must not break lookups). */
export function parseOverride(value: string | Buffer): StatOverride | undefined {
  const text = value.toString();
  let rec;
  try {
    rec = parseOverrideStat(text);
  } catch {
    return undefined;
  }
  const out: StatOverride = { uid: rec.uid, gid: rec.gid, perm: rec.mode };
  // A three-field record without type bits in MODE names no type: the entry keeps its own.
  const named = text.split(':').length === 4 || (parseInt(text.split(':')[2], 8) & 0o170000) !== 0;
  if (named) out.type = OVERRIDE_TYPE_BITS[rec.type];
  if (rec.major !== undefined) {
    out.major = rec.major;
    out.minor = rec.minor;
  }
  return out;
}

export function formatOverride(o: StatOverride): string {
  const type = o.type === undefined ? undefined : overrideTypeOf(o.type);
  if (type === undefined) return `${o.uid}:${o.gid}:${(o.perm & 0o7777).toString(8).padStart(4, '0')}`;
  return formatOverrideStat({ uid: o.uid, gid: o.gid, mode: o.perm, type, major: o.major, minor: o.minor });
}
