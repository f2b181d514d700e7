// The image's User ("uid", "uid:gid", "name", "name:group", ...) as numeric ids,
// names looked up in the rootfs's /etc/passwd and /etc/group as a runtime would.
import * as fs from 'node:fs';
import { OcimountError } from '../errors';
import { resolveInRootfs } from './rootfs-path';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups from /etc/group, when the user was given by name or uid found there. */
  additionalGids?: number[];
  /** The user's name as found in /etc/passwd, when known. */
  username?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const NUMERIC = /^[0-9]+$/;

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#') || !NUMERIC.test(f[2]) || !NUMERIC.test(f[3])) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]) });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || line.startsWith('#') || !NUMERIC.test(f[2])) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) });
  }
  return out;
}

function readIn(rootfs: string | undefined, file: string): string | undefined {
  if (!rootfs) return undefined;
  try {
    return fs.readFileSync(resolveInRootfs(rootfs, file), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Resolves the image config's User. Numeric ids need no rootfs; names need one and fail
 * with NOT_FOUND when absent from its /etc/passwd or /etc/group. An empty User is root.
 */
export function resolveUser(user: string | undefined, rootfs?: string): ResolvedUser {
  const spec = (user ?? '').trim();
  if (spec === '') return { uid: 0, gid: 0 };
  const [u, g] = spec.split(':', 2) as [string, string | undefined];
  const passwdText = readIn(rootfs, '/etc/passwd');
  const groupText = readIn(rootfs, '/etc/group');
  const passwd = passwdText ? parsePasswd(passwdText) : [];
  const groups = groupText ? parseGroup(groupText) : [];

  let entry: PasswdEntry | undefined;
  let uid: number;
  if (NUMERIC.test(u)) {
    uid = Number(u);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === u);
    if (!entry) {
      throw new OcimountError(
        'NOT_FOUND',
        `the image's user "${u}" is not in ${rootfs ? "the root filesystem's /etc/passwd" : '/etc/passwd (no root filesystem to look in)'}`,
        { user: spec },
      );
    }
    uid = entry.uid;
  }

  let gid: number;
  if (g === undefined || g === '') {
    gid = entry?.gid ?? 0; // a uid without a passwd entry gets gid 0, as runc does
  } else if (NUMERIC.test(g)) {
    gid = Number(g);
  } else {
    const ge = groups.find((x) => x.name === g);
    if (!ge) {
      throw new OcimountError(
        'NOT_FOUND',
        `the image's group "${g}" is not in ${rootfs ? "the root filesystem's /etc/group" : '/etc/group (no root filesystem to look in)'}`,
        { user: spec },
      );
    }
    gid = ge.gid;
  }

  const out: ResolvedUser = { uid, gid };
  if (entry) {
    out.username = entry.name;
    // Supplementary groups only when no group was forced, as Docker does.
    if (g === undefined) {
      const extra = groups.filter((x) => x.members.includes(entry!.name) && x.gid !== gid).map((x) => x.gid);
      if (extra.length > 0) out.additionalGids = [...new Set(extra)];
    }
  }
  return out;
}
