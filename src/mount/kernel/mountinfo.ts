// Reads /proc/self/mountinfo: which paths are mount points, and with what filesystem.
// Used to refuse mounting twice on the same target and to tell kernel from FUSE mounts.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface MountEntry {
  mountPoint: string;
  fstype: string;
  source: string;
  options: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function readMountinfo(): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    // id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const l = left.split(' ');
    const r = right.split(' ');
    out.push({ mountPoint: unescape(l[4]), options: l[5], fstype: r[0], source: unescape(r[1] ?? '') });
  }
  return out;
}

/** The mount whose mount point is exactly `target` (the last, i.e. topmost, one), if any. */
export function mountAt(target: string): MountEntry | undefined {
  let abs = path.resolve(target);
  try {
    abs = fs.realpathSync(abs);
  } catch {
    // a missing target is simply not mounted
  }
  let found: MountEntry | undefined;
  for (const m of readMountinfo()) if (m.mountPoint === abs) found = m;
  return found;
}
