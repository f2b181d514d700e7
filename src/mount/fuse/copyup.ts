// Copy-up: makes a lower entry writable by copying it into upper with its
// content, mode, ownership, times and xattrs. Each entry is built in the work
// dir and renamed into place, so a crash never leaves a half-copied file visible.
import * as fs from 'node:fs';
import { native } from '../../native';
import {
  OVERRIDE_XATTR,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
  formatOverride,
  isInternalXattr,
  type InodeMap,
  type LayerStack,
  type Resolved,
  type StatOverride,
} from '../../overlay';

export interface CopyUpContext {
  stack: LayerStack;
  inodes: InodeMap;
  work: string;
  /** Root: ownership and devices are made real. Rootless: recorded in override_stat. */
  privileged: boolean;
}

let seq = 0;

/** Temp names in the work dir carry this prefix; leftovers from a crash are removed at mount. */
export const WORK_PREFIX = 'ocimount-cu-';

export function cleanWork(work: string): void {
  for (const n of fs.readdirSync(work)) if (n.startsWith(WORK_PREFIX)) fs.rmSync(`${work}/${n}`, { recursive: true, force: true });
}

/**
 * Rootless: the upper root answers for the merged root, so it takes the image's
 * record of the root's owner and mode (root:root), as a copy-up would.
 */
export function adoptRootRecord(upper: string, lowers: string[]): void {
  const n = native();
  const has = (p: string) => safeList(p).includes(OVERRIDE_XATTR);
  if (has(upper)) return;
  const from = lowers.find(has);
  if (from) n.lsetxattr(upper, OVERRIDE_XATTR, n.lgetxattr(from, OVERRIDE_XATTR), 0);
}

/** Copies one resolved lower entry (whose parent already exists in upper) into upper. */
export function copyUpEntry(ctx: CopyUpContext, r: Resolved): void {
  const n = native();
  const src = ctx.stack.abs(r.layer, r.rel);
  const dst = ctx.stack.abs(0, r.rel);
  const tmp = `${ctx.work}/${WORK_PREFIX}${process.pid}-${++seq}`;
  const st = fs.lstatSync(src, { bigint: true });
  const realType = Number(st.mode) & S_IFMT;
  const perm = Number(st.mode) & 0o7777;
  const ov = r.entry.ov;
  // What the client sees: the override wins when there is one.
  const type = ov?.type ?? realType;
  const wantPerm = ov ? ov.perm : perm;
  let newOv: StatOverride | undefined = ctx.privileged ? undefined : ov;
  try {
    if (realType === S_IFDIR) {
      fs.mkdirSync(tmp, { mode: ctx.privileged ? wantPerm : perm | 0o700 });
    } else if (realType === S_IFLNK) {
      fs.symlinkSync(fs.readlinkSync(src), tmp);
    } else if (ctx.privileged && (type === S_IFCHR || type === S_IFBLK) && realType !== type) {
      // A rootless layer's device node is an empty file plus a record: make it real.
      n.mknod(tmp, type | wantPerm, n.makedev(ov?.major ?? 0, ov?.minor ?? 0));
    } else if (realType === S_IFREG) {
      fs.copyFileSync(src, tmp, fs.constants.COPYFILE_FICLONE);
    } else if (realType === S_IFIFO || realType === S_IFSOCK || ctx.privileged) {
      n.mknod(tmp, realType | perm, Number(st.rdev));
    } else {
      // Rootless copy of a real device node: keep it as an empty file plus a record.
      fs.writeFileSync(tmp, '');
      newOv = ov ?? { uid: Number(st.uid), gid: Number(st.gid), perm, type: realType, major: n.major(Number(st.rdev)), minor: n.minor(Number(st.rdev)) };
    }
    for (const name of safeList(src)) {
      if (isInternalXattr(name)) continue; // overrides are re-written below; overlay xattrs belong to the source layer
      try {
        n.lsetxattr(tmp, name, n.lgetxattr(src, name), 0);
      } catch {
        // user.* xattrs are refused on symlinks; nothing else to keep
      }
    }
    if (ctx.privileged) {
      fs.lchownSync(tmp, ov?.uid ?? Number(st.uid), ov?.gid ?? Number(st.gid));
      if (realType !== S_IFLNK) fs.chmodSync(tmp, wantPerm); // chown cleared setuid bits
    } else if (realType === S_IFREG || realType === S_IFDIR) {
      if (realType === S_IFREG) fs.chmodSync(tmp, perm | 0o600);
      // The real mode was widened so the mounting user can keep writing; record what clients see.
      const real = realType === S_IFDIR ? perm | 0o700 : perm | 0o600;
      if (!newOv && real !== perm) newOv = { uid: Number(st.uid), gid: Number(st.gid), perm };
    }
    if (newOv && realType !== S_IFLNK) n.lsetxattr(tmp, OVERRIDE_XATTR, Buffer.from(formatOverride(newOv)), 0);
    n.lutimens(tmp, Number(st.atimeNs / 1000000000n), Number(st.atimeNs % 1000000000n), Number(st.mtimeNs / 1000000000n), Number(st.mtimeNs % 1000000000n));
    fs.renameSync(tmp, dst);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  // Keep the inode number clients knew, as the kernel overlay does, but not for a
  // hardlinked origin: the copy breaks the link, and two different files must not share a number.
  if (realType !== S_IFDIR && r.origin.nlink === 1) {
    const now = fs.lstatSync(dst);
    ctx.inodes.alias(now.dev, now.ino, ctx.inodes.get(r.origin.dev, r.origin.ino));
  }
}

function safeList(p: string): string[] {
  try {
    return native().llistxattr(p);
  } catch {
    return [];
  }
}
