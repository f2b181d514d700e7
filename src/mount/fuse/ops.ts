// The FUSE operations of an overlay mount, in fuse-native's calling convention
// (path-based, callback with a negative errno or 0). Each handler asks the
// overlay model where a name lives and does the one syscall that follows;
// all writes land in upper. Metadata calls are synchronous on the JS thread
// (measured faster than the libuv pool here); data reads and writes are async.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { native } from '../../native';
import {
  InodeMap,
  LayerStack,
  OPAQUE_MARKER,
  OVERRIDE_XATTR,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFMT,
  S_IFLNK,
  S_IFREG,
  WH_PREFIX,
  formatOverride,
  isCharWhiteout,
  isDir,
  isInternalXattr,
  joinRel,
  presentStat,
  relOf,
  splitRel,
  type LayerDesc,
  type PresentedStat,
  type Resolved,
  type StatLike,
} from '../../overlay';
import { diskView } from '../view';
import { copyUpEntry, type CopyUpContext } from './copyup';
import { encodeDirents, type DirentSource } from './dirent';
import { ReaddirCache } from './readdir-cache';
import { caller } from './adapter';

type Cb = (err: number, ...rest: unknown[]) => void;

const E = os.constants.errno;
const ENOENT = -E.ENOENT;
const ENOTDIR = -E.ENOTDIR;
const EROFS = -E.EROFS;
const EPERM = -E.EPERM;
const ENODATA = -E.ENODATA;
const EXDEV = -E.EXDEV;
const EISDIR = -E.EISDIR;
const ENOTEMPTY = -E.ENOTEMPTY;
const EIO = -E.EIO;
const { O_RDONLY, O_TRUNC, O_SYNC, O_DSYNC } = fs.constants;
/** Linux's O_ACCMODE (Node's fs.constants lacks it). */
const O_ACCMODE = 3;
/** What a client's open flags may pass on to the real open: access mode and sync/truncate semantics. */
const OPEN_MASK = O_ACCMODE | O_TRUNC | O_SYNC | O_DSYNC;
/** utimensat's UTIME_NOW/UTIME_OMIT as fuse-native turns them into milliseconds (tv_sec 0, tv_nsec ~2^30). */
const UTIME_SPECIAL_MS = 1073;

/** Milliseconds since the epoch -> [seconds, nanoseconds]. */
function splitMs(t: number): [number, number] {
  const sec = Math.floor(t / 1000);
  return [sec, Math.round((t - sec * 1000) * 1e6)];
}

/** Node error -> negative errno for FUSE. */
export function errnoOf(err: unknown): number {
  const code = (err as NodeJS.ErrnoException)?.code;
  const n = code ? E[code as keyof typeof E] : undefined;
  return n ? -n : EIO;
}

export interface OverlayFsOptions {
  layers: LayerDesc[];
  /** Scratch dir on upper's filesystem (required unless read-only). */
  work?: string;
  /** Root: real chown/mknod, char-device whiteouts, trusted.overlay.opaque. Else .wh. files and override_stat. */
  privileged: boolean;
  /**
   * Owner shown for lower symlinks without a record: a rootless unpack cannot record
   * a symlink's owner (no user.* xattrs on symlinks), and an image's are root's.
   */
  symlinkOwner?: { uid: number; gid: number };
}

/** Reported to a tracer: the layer that answered the last lookup and copy-ups done. */
export interface OpNotes {
  layer?: number;
  copyUps: string[];
}

export class OverlayFs {
  readonly stack: LayerStack;
  readonly inodes = new InodeMap();
  readonly privileged: boolean;
  readonly readOnly: boolean;
  readonly notes: OpNotes = { copyUps: [] };
  private readonly cu: CopyUpContext | undefined;
  private readonly symlinkOwner: { uid: number; gid: number } | undefined;
  /** Read-only fds open on lower files, by path: a copy-up moves them to the copy. */
  private readonly lowerReaders = new Map<string, Set<number>>();
  private readonly readerPath = new Map<number, string>();
  /** A client fd whose file was copied up after it was opened -> an fd on the copy. */
  private readonly moved = new Map<number, number>();
  private readonly dirents: ReaddirCache;

  constructor(opts: OverlayFsOptions) {
    this.privileged = opts.privileged;
    this.symlinkOwner = opts.symlinkOwner;
    this.stack = new LayerStack(opts.layers, diskView(), { upperOverride: !opts.privileged });
    this.dirents = new ReaddirCache(this.stack);
    this.readOnly = !this.stack.hasUpper;
    this.cu = this.readOnly ? undefined : { stack: this.stack, inodes: this.inodes, work: opts.work!, privileged: opts.privileged };
  }

  // ---- helpers -------------------------------------------------------------

  private find(path: string): Resolved | number {
    const r = this.stack.lookup(relOf(path));
    if (typeof r === 'string') return r === 'ENOENT' ? ENOENT : ENOTDIR;
    this.notes.layer = r.layer;
    return r;
  }

  private real(r: Resolved): string {
    return this.stack.abs(r.layer, r.rel);
  }

  private upper(rel: string): string {
    return this.stack.abs(0, rel);
  }

  /** The winner's current stat: lower entries never change; upper ones are read again. */
  private statOf(r: Resolved): StatLike | undefined {
    if (this.stack.layers[r.layer].immutable) return r.entry.st;
    return this.stack.view.lstat(this.real(r));
  }

  present(r: Resolved): PresentedStat | undefined {
    const st = this.statOf(r);
    if (!st) return undefined;
    const origin = r.layer === 0 && !r.dirLayers ? st : r.origin;
    const p = presentStat(r, st, origin, this.inodes);
    if (this.symlinkOwner && (p.mode & S_IFMT) === S_IFLNK && !r.entry.ov && this.stack.layers[r.layer].immutable) {
      p.uid = this.symlinkOwner.uid;
      p.gid = this.symlinkOwner.gid;
    }
    return p;
  }

  /**
   * Readers that opened the lower file read from the copy from now on, as on the
   * kernel overlay: a stale lower fd would also refill the shared page cache with
   * the old content after the file was rewritten.
   */
  private moveReaders(rel: string): void {
    const fds = this.lowerReaders.get(rel);
    if (!fds) return;
    this.lowerReaders.delete(rel);
    for (const fd of fds) {
      this.readerPath.delete(fd);
      this.moved.set(fd, fs.openSync(this.upper(rel), O_RDONLY));
    }
  }

  /** Makes every directory on the way to `rel` (and `rel` itself) exist in upper. */
  private copyUp(rel: string): Resolved {
    // Already in upper (then so are all its parents): nothing to plan. For directories
    // this answer comes from the stack's cache, so creating files costs no walk.
    const here = this.stack.lookup(rel);
    if (typeof here !== 'string' && here.layer === 0 && this.stack.hasUpper) return here;
    const plan = this.stack.copyUpPlan(rel);
    if (typeof plan === 'string') throw Object.assign(new Error(plan), { code: plan });
    const todo = plan.self ? [...plan.dirs, plan.self] : plan.dirs;
    for (const r of todo) {
      copyUpEntry(this.cu!, r);
      if (r === plan.self) this.moveReaders(r.rel);
      this.notes.copyUps.push(r.rel === '' ? '/' : r.rel);
    }
    if (todo.length) this.stack.invalidate();
    const r = this.stack.lookup(rel);
    if (typeof r === 'string') throw Object.assign(new Error(r), { code: r });
    return r;
  }

  /**
   * Runs `fn`, which removes the upper name `abs`. When that was the file's last
   * name, its inode number is forgotten: the filesystem reuses it, and a copied-up
   * file's number is an alias of its lower origin's, which a new file must not get.
   */
  private removeUpper(abs: string, fn: () => void): void {
    const st = this.stack.view.lstat(abs);
    fn();
    if (st && st.nlink <= 1) this.inodes.forget(st.dev, st.ino);
  }

  /**
   * A root-served mount creates entries as root; they must belong to whoever asked
   * (the kernel already checked that they may), as on any filesystem, or a user of an
   * --allow-other mount would make root-owned files, setuid ones included. A setgid
   * directory passes its group on, as the kernel does.
   */
  private ownNew(abs: string): void {
    if (!this.privileged) return;
    const who = caller();
    if (!who || (who[0] === 0 && who[1] === 0)) return;
    const parent = fs.statSync(abs.slice(0, abs.lastIndexOf('/')) || '/');
    fs.lchownSync(abs, who[0], parent.mode & 0o2000 ? parent.gid : who[1]);
  }

  /** Prepares upper for a new name: parent copied up, any whiteout of the name removed. Returns whether one was. */
  private prepareNew(rel: string): boolean {
    const [dir, name] = splitRel(rel);
    if (name.startsWith(WH_PREFIX)) throw Object.assign(new Error('reserved name'), { code: 'EPERM' });
    this.copyUp(dir);
    return this.clearWhiteout(rel);
  }

  private clearWhiteout(rel: string): boolean {
    const [dir, name] = splitRel(rel);
    const p = this.upper(rel);
    const st = this.stack.view.lstat(p);
    let had = false;
    if (st && isCharWhiteout(st)) {
      fs.unlinkSync(p);
      had = true;
    }
    const wh = this.upper(joinRel(dir, WH_PREFIX + name));
    if (this.stack.view.lstat(wh)) {
      fs.unlinkSync(wh);
      had = true;
    }
    return had;
  }

  private makeWhiteout(rel: string): void {
    const [dir, name] = splitRel(rel);
    this.copyUp(dir);
    if (this.privileged) native().mknod(this.upper(rel), S_IFCHR, 0);
    else fs.writeFileSync(this.upper(joinRel(dir, WH_PREFIX + name)), '', { mode: 0o600 });
  }

  private makeOpaque(rel: string): void {
    const p = this.upper(rel);
    if (this.privileged) native().lsetxattr(p, 'trusted.overlay.opaque', Buffer.from('y'), 0);
    else fs.writeFileSync(`${p}/${OPAQUE_MARKER}`, '', { mode: 0o600 });
  }

  /** Whether the directory holding `rel` has parts in lower layers. */
  private mergedParent(rel: string): boolean {
    const p = this.stack.lookup(splitRel(rel)[0]);
    return typeof p !== 'string' && (p.dirLayers ?? []).some((l) => l !== 0);
  }

  /** Empties an upper directory that holds only whiteouts and markers (the merged view shows it empty). */
  private purgeUpperDir(rel: string): void {
    const p = this.upper(rel);
    for (const n of fs.readdirSync(p)) fs.rmSync(`${p}/${n}`, { force: true });
  }

  /**
   * Rootless: the mounting user is root of the image, so a mode that would lock
   * it out of its own upper entry stays usable on disk and is recorded instead.
   * Returns whether a record was written.
   */
  private keepUsable(abs: string, perm: number, dir: boolean): boolean {
    const need = dir ? 0o700 : 0o600;
    if (this.privileged || (perm & need) === need) return false;
    fs.chmodSync(abs, perm | need);
    const st = fs.lstatSync(abs);
    native().lsetxattr(abs, OVERRIDE_XATTR, Buffer.from(formatOverride({ uid: st.uid, gid: st.gid, perm, type: st.mode & S_IFMT })), 0);
    return true;
  }

  /** Records ownership/mode in override_stat (rootless chown/chmod). */
  private writeOverride(r: Resolved, uid: number | undefined, gid: number | undefined, perm: number | undefined): void {
    const cur = this.present(r)!;
    const type = cur.mode & S_IFMT;
    const ov = {
      uid: uid ?? cur.uid,
      gid: gid ?? cur.gid,
      perm: perm ?? cur.mode & 0o7777,
      type: r.entry.ov?.type ?? type,
      major: r.entry.ov?.major,
      minor: r.entry.ov?.minor,
    };
    native().lsetxattr(this.real(r), OVERRIDE_XATTR, Buffer.from(formatOverride(ov)), 0);
    this.stack.invalidate();
  }

  // ---- read side -----------------------------------------------------------

  getattr = (path: string, cb: Cb): void => {
    const r = this.find(path);
    if (typeof r === 'number') return cb(r);
    const p = this.present(r);
    return p ? cb(0, p) : cb(ENOENT);
  };

  // fuse-native only calls fgetattr's presence; it then answers through getattr.
  fgetattr = (path: string, _fd: number, cb: Cb): void => this.getattr(path, cb);

  // Only asked when the kernel does not check permissions itself (a rootless mount
  // without --allow-other, whose user is root of the image): answer as for root.
  access = (path: string, mode: number, cb: Cb): void => {
    const r = this.find(path);
    if (typeof r === 'number') return cb(r);
    if (mode & fs.constants.W_OK && this.readOnly) return cb(EROFS);
    if (mode & fs.constants.X_OK && !r.dirLayers) {
      const p = this.present(r);
      if (p && (p.mode & 0o111) === 0) return cb(-E.EACCES);
    }
    cb(0);
  };

  readdir = (path: string, cb: Cb): void => {
    const r = this.find(path);
    if (typeof r === 'number') return cb(r);
    if (!r.dirLayers) return cb(ENOTDIR);
    const kept = this.dirents.get(r);
    if (kept) return cb(0, kept.names, kept.stats);
    const names = ['.', '..'];
    // glibc's readdir skips entries with inode 0, so . and .. need real numbers to be listed.
    const self = this.inodes.get(r.origin.dev, r.origin.ino);
    const parent = r.rel === '' ? undefined : this.stack.lookup(splitRel(r.rel)[0]);
    const up = parent && typeof parent !== 'string' ? this.inodes.get(parent.origin.dev, parent.origin.ino) : self;
    const stats: DirentSource[] = [{ mode: S_IFDIR, ino: self }, { mode: S_IFDIR, ino: up }];
    for (const e of this.stack.readdir(r)) {
      const st = e.entry.st;
      let ino: number;
      if (isDir(st)) {
        // A directory is known by its bottom-most part, as getattr reports it.
        const sub = this.stack.step(r, e.name);
        ino = typeof sub === 'string' ? this.inodes.get(st.dev, st.ino) : this.inodes.get(sub.origin.dev, sub.origin.ino);
      } else {
        ino = this.inodes.get(st.dev, st.ino);
      }
      names.push(e.name);
      stats.push({ mode: e.entry.ov?.type ?? st.mode & S_IFMT, ino });
    }
    const encoded = encodeDirents(stats);
    this.dirents.put(r, names, encoded);
    cb(0, names, encoded);
  };

  readlink = (path: string, cb: Cb): void => {
    const r = this.find(path);
    if (typeof r === 'number') return cb(r);
    try {
      cb(0, fs.readlinkSync(this.real(r)));
    } catch (err) {
      cb(errnoOf(err));
    }
  };

  open = (path: string, flags: number, cb: Cb): void => {
    let r = this.find(path);
    if (typeof r === 'number') return cb(r);
    const writing = (flags & O_ACCMODE) !== O_RDONLY || (flags & O_TRUNC) !== 0;
    try {
      if (writing) {
        if (this.readOnly) return cb(EROFS);
        if (r.layer !== 0) r = this.copyUp(r.rel);
      }
      // Lower files are only ever opened read-only, whatever was asked.
      const fd = fs.openSync(this.real(r), r.layer === 0 && this.stack.hasUpper ? flags & OPEN_MASK : O_RDONLY);
      if (r.layer !== 0 && this.stack.hasUpper) {
        const set = this.lowerReaders.get(r.rel);
        if (set) set.add(fd);
        else this.lowerReaders.set(r.rel, new Set([fd]));
        this.readerPath.set(fd, r.rel);
      }
      cb(0, fd);
    } catch (err) {
      cb(errnoOf(err));
    }
  };

  // Reads stay on the libuv pool: a cold lower file waits for the disk, and several
  // readers (or the kernel's readahead) then proceed in parallel. Measured: no gain
  // from synchronous reads on warm data either.
  read = (_path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Cb): void => {
    const real = this.moved.size === 0 ? fd : this.moved.get(fd) ?? fd;
    fs.read(real, buf, 0, len, pos, (err, n) => cb(err ? errnoOf(err) : n));
  };

  release = (_path: string, fd: number, cb: Cb): void => {
    try {
      const rel = this.readerPath.get(fd);
      if (rel !== undefined) {
        this.readerPath.delete(fd);
        const set = this.lowerReaders.get(rel)!;
        set.delete(fd);
        if (set.size === 0) this.lowerReaders.delete(rel);
      }
      const copy = this.moved.get(fd);
      if (copy !== undefined) {
        this.moved.delete(fd);
        fs.closeSync(copy);
      }
      fs.closeSync(fd);
      cb(0);
    } catch (err) {
      cb(errnoOf(err));
    }
  };

  getxattr = (path: string, name: string, _pos: number, cb: Cb): void => {
    if (isInternalXattr(name)) return cb(ENODATA);
    const r = this.find(path);
    if (typeof r === 'number') return cb(r);
    try {
      const p = this.real(r);
      // The kernel asks for security.capability before every first write to a file;
      // answering an absent name from the list avoids a thrown ENODATA (slow in V8).
      if (!native().llistxattr(p).includes(name)) return cb(ENODATA);
      cb(0, native().lgetxattr(p, name));
    } catch (err) {
      cb(errnoOf(err));
    }
  };

  listxattr = (path: string, cb: Cb): void => {
    const r = this.find(path);
    if (typeof r === 'number') return cb(r);
    try {
      cb(0, native().llistxattr(this.real(r)).filter((n) => !isInternalXattr(n)));
    } catch (err) {
      cb(errnoOf(err));
    }
  };

  statfs = (_path: string, cb: Cb): void => {
    try {
      const s = fs.statfsSync(this.stack.layers[0].root);
      const clamp = (n: number) => Math.min(n, 0xffffffff);
      cb(0, {
        bsize: s.bsize,
        frsize: s.bsize,
        blocks: clamp(s.blocks),
        bfree: clamp(s.bfree),
        bavail: clamp(s.bavail),
        files: clamp(s.files),
        ffree: clamp(s.ffree),
        favail: clamp(s.ffree),
        fsid: 0,
        flag: 0,
        namemax: 255,
      });
    } catch (err) {
      cb(errnoOf(err));
    }
  };

  // No flush handler: writes go straight to the real fd, so close has nothing to
  // push. libfuse answers ENOSYS and the kernel stops sending FLUSH on every close,
  // one round trip into JS fewer per open file.

  // ---- write side ----------------------------------------------------------

  /** Runs a mutation: it returns a negative errno to refuse, or nothing; thrown Node errors map to errno. */
  private mutate(cb: Cb, fn: () => number | void): void {
    let v: number | void;
    try {
      v = fn();
    } catch (err) {
      return cb(errnoOf(err));
    }
    cb(typeof v === 'number' ? v : 0);
  }

  // Writes are synchronous: they land in upper's page cache, and the libuv pool's
  // extra thread hand-off cost ~100 us per small file created (bench/mount-bench).
  write = (_path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Cb): void => {
    let n: number;
    try {
      n = fs.writeSync(fd, buf, 0, len, pos);
    } catch (err) {
      return cb(errnoOf(err));
    }
    cb(n);
  };

  create = (path: string, mode: number, cb: Cb): void => {
    let fd: number;
    try {
      const rel = relOf(path);
      this.prepareNew(rel);
      fd = fs.openSync(this.upper(rel), fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR, mode & 0o7777);
      this.ownNew(this.upper(rel));
      if (this.keepUsable(this.upper(rel), mode & 0o7777, false)) this.stack.invalidate();
    } catch (err) {
      return cb(errnoOf(err));
    }
    cb(0, fd);
  };

  truncate = (path: string, size: number, cb: Cb): void =>
    this.mutate(cb, () => {
      const r = this.copyUp(relOf(path));
      fs.truncateSync(this.real(r), size);
    });

  ftruncate = (_path: string, fd: number, size: number, cb: Cb): void => this.mutate(cb, () => fs.ftruncateSync(fd, size));

  fsync = (_path: string, datasync: number, fd: number, cb: Cb): void =>
    this.mutate(cb, () => (datasync ? fs.fdatasyncSync(fd) : fs.fsyncSync(fd)));

  mkdir = (path: string, mode: number, cb: Cb): void =>
    this.mutate(cb, () => {
      const rel = relOf(path);
      const hadWhiteout = this.prepareNew(rel);
      fs.mkdirSync(this.upper(rel), { mode: mode & 0o7777 });
      this.ownNew(this.upper(rel));
      this.keepUsable(this.upper(rel), mode & 0o7777, true);
      // A directory made where a lower one was deleted must not show the old contents.
      if (hadWhiteout) this.makeOpaque(rel);
      this.stack.invalidate();
    });

  symlink = (target: string, path: string, cb: Cb): void =>
    this.mutate(cb, () => {
      const rel = relOf(path);
      this.prepareNew(rel);
      fs.symlinkSync(target, this.upper(rel));
      this.ownNew(this.upper(rel));
    });

  mknod = (path: string, mode: number, dev: number, cb: Cb): void =>
    this.mutate(cb, () => {
      const type = mode & S_IFMT;
      if ((type === S_IFCHR || type === S_IFBLK) && !this.privileged) return EPERM;
      const rel = relOf(path);
      this.prepareNew(rel);
      if (type === S_IFREG || type === 0) fs.closeSync(fs.openSync(this.upper(rel), 'wx', mode & 0o7777));
      else native().mknod(this.upper(rel), mode, dev);
      this.ownNew(this.upper(rel));
    });

  link = (src: string, dst: string, cb: Cb): void =>
    this.mutate(cb, () => {
      const rs = this.find(src);
      if (typeof rs === 'number') return rs;
      if (rs.dirLayers) return EPERM;
      const relDst = relOf(dst);
      const up = this.copyUp(rs.rel);
      this.prepareNew(relDst);
      fs.linkSync(this.real(up), this.upper(relDst));
    });

  unlink = (path: string, cb: Cb): void =>
    this.mutate(cb, () => {
      const r = this.find(path);
      if (typeof r === 'number') return r;
      if (r.dirLayers) return EISDIR;
      if (r.layer === 0) this.removeUpper(this.upper(r.rel), () => fs.unlinkSync(this.upper(r.rel)));
      if (r.layer !== 0 || this.stack.existsBelow(r.rel, 0)) this.makeWhiteout(r.rel);
    });

  rmdir = (path: string, cb: Cb): void =>
    this.mutate(cb, () => {
      const r = this.find(path);
      if (typeof r === 'number') return r;
      if (!r.dirLayers) return ENOTDIR;
      if (r.rel === '') return -E.EBUSY;
      if (this.stack.readdir(r).length > 0) return ENOTEMPTY;
      if (r.dirLayers[0] === 0) {
        this.purgeUpperDir(r.rel);
        fs.rmdirSync(this.upper(r.rel));
      }
      if (r.dirLayers.some((l) => l !== 0) || this.stack.existsBelow(r.rel, 0)) this.makeWhiteout(r.rel);
      this.stack.invalidate();
    });

  rename = (src: string, dst: string, cb: Cb): void =>
    this.mutate(cb, () => {
      if (src === dst) return 0;
      const rs = this.find(src);
      if (typeof rs === 'number') return rs;
      const relDst = relOf(dst);
      const rd = this.stack.lookup(relDst);
      const dstExists = typeof rd !== 'string';
      if (rd === 'ENOTDIR') return ENOTDIR;
      if (rs.dirLayers) {
        // Like the kernel overlay without redirect_dir: a directory with lower parts cannot move.
        if (rs.dirLayers.some((l) => l !== 0)) return EXDEV;
        if (dstExists) {
          if (!rd.dirLayers) return ENOTDIR;
          if (this.stack.readdir(rd).length > 0) return ENOTEMPTY;
        }
      } else if (dstExists && rd.dirLayers) {
        return EISDIR;
      }
      const srcBelow = this.stack.existsBelow(rs.rel, 0);
      const up = rs.layer === 0 ? rs : this.copyUp(rs.rel);
      this.prepareNew(relDst);
      if (dstExists && rd.dirLayers && rd.dirLayers[0] === 0) this.purgeUpperDir(relDst);
      const replaced = dstExists && !rd.dirLayers && rd.layer === 0;
      if (replaced) this.removeUpper(this.upper(relDst), () => fs.renameSync(this.real(up), this.upper(relDst)));
      else fs.renameSync(this.real(up), this.upper(relDst));
      const dstBelow = this.stack.existsBelow(relDst, 0);
      // As the kernel overlay: a directory moved into a merged parent is opaque, so a
      // lower entry of its new name (today's layers or tomorrow's) never shows through it.
      if (rs.dirLayers && (dstBelow || this.mergedParent(relDst))) this.makeOpaque(relDst);
      if (srcBelow) this.makeWhiteout(rs.rel);
      this.stack.invalidate();
    });

  chmod = (path: string, mode: number, cb: Cb): void =>
    this.mutate(cb, () => {
      const r = this.copyUp(relOf(path));
      if (!this.privileged && r.entry.ov) return this.writeOverride(r, undefined, undefined, mode & 0o7777);
      if (this.keepUsable(this.real(r), mode & 0o7777, !!r.dirLayers)) return this.stack.invalidate();
      fs.chmodSync(this.real(r), mode & 0o7777);
      this.stack.invalidate();
    });

  chown = (path: string, uid: number, gid: number, cb: Cb): void =>
    this.mutate(cb, () => {
      const r = this.copyUp(relOf(path));
      const u = uid === 0xffffffff ? undefined : uid;
      const g = gid === 0xffffffff ? undefined : gid;
      if (!this.privileged) return this.writeOverride(r, u, g, undefined);
      fs.lchownSync(this.real(r), u ?? -1, g ?? -1);
      this.stack.invalidate();
    });

  // With scripts/patches (stock fuse-native 2.2.6 sent atime twice and never set
  // utime_omit_ok), each time arrives in its own argument, and UTIME_NOW and
  // UTIME_OMIT both as ~1073 ms. libfuse resolves NOW itself when both change, so
  // both special is `touch -m` (NOW and OMIT: now), one special is OMIT (keep it).
  utimens = (path: string, atime: number, mtime: number, cb: Cb): void =>
    this.mutate(cb, () => {
      const r = this.copyUp(relOf(path));
      const p = this.real(r);
      const both = atime === UTIME_SPECIAL_MS && mtime === UTIME_SPECIAL_MS;
      const cur = both ? undefined : fs.lstatSync(p);
      const pick = (t: number, old: number | undefined) => splitMs(t !== UTIME_SPECIAL_MS ? t : old ?? Date.now());
      const [as, ans] = pick(atime, cur?.atimeMs);
      const [ms, mns] = pick(mtime, cur?.mtimeMs);
      native().lutimens(p, as, ans, ms, mns);
    });

  setxattr = (path: string, name: string, value: Buffer, _pos: number, flags: number, cb: Cb): void =>
    this.mutate(cb, () => {
      if (isInternalXattr(name)) return EPERM;
      const r = this.copyUp(relOf(path));
      native().lsetxattr(this.real(r), name, Buffer.from(value), flags);
    });

  removexattr = (path: string, name: string, cb: Cb): void =>
    this.mutate(cb, () => {
      if (isInternalXattr(name)) return ENODATA;
      const r = this.copyUp(relOf(path));
      native().lremovexattr(this.real(r), name);
    });
}

const WRITE_OPS = [
  'write', 'create', 'truncate', 'ftruncate', 'fsync', 'mkdir', 'symlink', 'mknod', 'link', 'unlink',
  'rmdir', 'rename', 'chmod', 'chown', 'utimens', 'setxattr', 'removexattr',
] as const;
const READ_OPS = ['getattr', 'fgetattr', 'access', 'readdir', 'readlink', 'open', 'read', 'release', 'getxattr', 'listxattr', 'statfs'] as const;
export const OP_NAMES = [...READ_OPS, ...WRITE_OPS];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OpTable = Record<string, (...args: any[]) => void>;

/** The handler table, chosen once at mount: a read-only mount answers EROFS without looking. */
export function opTable(ofs: OverlayFs): OpTable {
  const t: OpTable = {};
  for (const n of READ_OPS) t[n] = ofs[n];
  for (const n of WRITE_OPS) {
    t[n] = ofs.readOnly
      ? (...args: unknown[]) => (args[args.length - 1] as Cb)(EROFS)
      : ofs[n];
  }
  return t;
}
