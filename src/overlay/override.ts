// `user.containers.override_stat`: what a rootless unpack could not make real
// (ownership, setuid bits, device nodes) recorded as an xattr, in the format
// containers/storage writes and fuse-overlayfs reads:
//   "UID:GID:MODE" or "UID:GID:MODE:TYPE", MODE octal permission bits (e.g. 0755, 4755),
//   TYPE one of file, dir, symlink, pipe, socket, block-MAJOR-MINOR, char-MAJOR-MINOR.
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK } from './types';

export const OVERRIDE_XATTR = 'user.containers.override_stat';

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

const TYPES: Record<string, number> = { file: S_IFREG, dir: S_IFDIR, symlink: S_IFLNK, pipe: S_IFIFO, socket: S_IFSOCK };

export function parseOverride(value: string | Buffer): StatOverride | undefined {
  const text = (typeof value === 'string' ? value : value.toString('utf8')).replace(/\0+$/, '').trim();
  const parts = text.split(':');
  if (parts.length < 3 || parts.length > 4) return undefined;
  const [u, g, m, t] = parts;
  if (!/^\d+$/.test(u) || !/^\d+$/.test(g) || !/^[0-7]+$/.test(m)) return undefined;
  const raw = parseInt(m, 8);
  const out: StatOverride = { uid: Number(u), gid: Number(g), perm: raw & 0o7777 };
  // Some writers include the type bits in MODE; honour them when TYPE is absent.
  if (raw & S_IFMT) out.type = raw & S_IFMT;
  if (t !== undefined) {
    const dev = /^(block|char)-(\d+)-(\d+)$/.exec(t);
    if (dev) {
      out.type = dev[1] === 'block' ? S_IFBLK : S_IFCHR;
      out.major = Number(dev[2]);
      out.minor = Number(dev[3]);
    } else if (TYPES[t] !== undefined) {
      out.type = TYPES[t];
    } else {
      return undefined;
    }
  }
  return out;
}

export function formatOverride(o: StatOverride): string {
  const base = `${o.uid}:${o.gid}:${o.perm.toString(8).padStart(4, '0')}`;
  if (o.type === undefined) return base;
  switch (o.type) {
    case S_IFBLK:
      return `${base}:block-${o.major ?? 0}-${o.minor ?? 0}`;
    case S_IFCHR:
      return `${base}:char-${o.major ?? 0}-${o.minor ?? 0}`;
    default: {
      const name = Object.keys(TYPES).find((k) => TYPES[k] === o.type);
      return name ? `${base}:${name}` : base;
    }
  }
}
