// The rootless ownership record: xattr user.containers.override_stat.
//
// Format as containers/storage writes and reads it (pkg/idtools/idtools.go,
// FormatContainersOverrideXattrDevice / parseOverrideXattr):
//   "UID:GID:MODE:TYPE"   e.g. "0:0:0755:dir", "0:5:0620:char-4-1"
// UID and GID decimal, MODE octal with at least 4 digits (setuid/setgid/sticky
// included), TYPE one of file, dir, symlink, pipe, socket, block-MAJ-MIN,
// char-MAJ-MIN. fuse-overlayfs reads the first three fields with
// sscanf("%d:%d:%o") (utils.c override_mode) and only for regular files and
// directories, and it enables the override for a layer only when the layer's
// root directory carries the xattr (direct.c direct_load_data_source): so the
// rootless extractor also records the layer root.

export const OVERRIDE_STAT_XATTR = 'user.containers.override_stat';

export type OverrideType = 'file' | 'dir' | 'symlink' | 'pipe' | 'socket' | 'char' | 'block';

export interface OverrideStat {
  uid: number;
  gid: number;
  /** Permission bits, 07777. */
  mode: number;
  type: OverrideType;
  major?: number;
  minor?: number;
}

export function formatOverrideStat(s: OverrideStat): string {
  const type = s.type === 'char' || s.type === 'block' ? `${s.type}-${s.major ?? 0}-${s.minor ?? 0}` : s.type;
  return `${s.uid}:${s.gid}:${(s.mode & 0o7777).toString(8).padStart(4, '0')}:${type}`;
}

/** Parses a record; the type field is optional (older writers wrote three fields,
 * some with the file type bits inside MODE, which then name the type). */
export function parseOverrideStat(value: string | Buffer): OverrideStat {
  const text = value.toString().replace(/\0+$/, '').trim();
  const parts = text.split(':');
  const bad = (): Error => new Error(`malformed ${OVERRIDE_STAT_XATTR} value "${text}"`);
  if (parts.length < 3 || parts.length > 4 || !/^\d+$/.test(parts[0]) || !/^\d+$/.test(parts[1]) || !/^[0-7]+$/.test(parts[2])) throw bad();
  const raw = parseInt(parts[2], 8);
  const out: OverrideStat = { uid: Number(parts[0]), gid: Number(parts[1]), mode: raw & 0o7777, type: TYPE_OF_BITS[raw & 0o170000] ?? 'file' };
  const t = parts[3];
  if (t === undefined) return out;
  const dev = /^(char|block)-(\d+)-(\d+)$/.exec(t);
  if (dev) return { ...out, type: dev[1] as 'char' | 'block', major: Number(dev[2]), minor: Number(dev[3]) };
  if (!['file', 'dir', 'symlink', 'pipe', 'socket'].includes(t)) throw bad();
  return { ...out, type: t as OverrideType };
}

/** File type bits (S_IFMT) of each record type, for callers that work in st_mode terms. */
export const OVERRIDE_TYPE_BITS: Record<OverrideType, number> = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  pipe: 0o010000,
  socket: 0o140000,
  char: 0o020000,
  block: 0o060000,
};

const TYPE_OF_BITS: Record<number, OverrideType> = Object.fromEntries(
  Object.entries(OVERRIDE_TYPE_BITS).map(([k, v]) => [v, k as OverrideType]),
);

/** The record type for st_mode type bits (undefined for bits no record names). */
export function overrideTypeOf(bits: number): OverrideType | undefined {
  return TYPE_OF_BITS[bits & 0o170000];
}
