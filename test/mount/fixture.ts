// Shared fixtures for FUSE mount conformance tests: an image covering every
// overlay case, unpacked by the CLI as root (overlay format) or as the
// unprivileged user (oci format, rootless), mounted through the CLI, checked
// with ordinary tools run as the same user; and tree hashes proving the lower
// layers never change.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeImage, type ImageSpec } from '../../src/dev/image-builder';
import type { TarEntry } from '../../src/dev/tar';
import { native } from '../../src/native';
import { UNPRIV_GID, UNPRIV_UID, asUser, makeTmp, makeUserTmp, ocimount, unmountAll, type RunResult } from '../helpers/env';

export type Who = 'root' | 'user';
export const WHO: Who[] = ['root', 'user'];

const d = (p: string, mode = 0o755, extra: Partial<TarEntry> = {}): TarEntry => ({ type: 'dir', path: p, mode, uid: 0, gid: 0, ...extra });
const f = (p: string, content: string, mode = 0o644, extra: Partial<TarEntry> = {}): TarEntry => ({ type: 'file', path: p, content, mode, uid: 0, gid: 0, mtime: 1_000_000_000, ...extra });
const wh = (p: string): TarEntry => ({ type: 'file', path: p, content: '', mode: 0o644 });

/** Two layers with whiteouts, an opaque dir, merged dirs, special files, owners and xattrs. */
export function conformanceImage(): ImageSpec {
  const l0: TarEntry[] = [
    d('etc/'),
    f('etc/os-release', 'ID=fixture\n'),
    f('f', 'base\n'),
    d('d/'),
    f('d/a', 'a0'),
    f('d/b', 'b0'),
    f('d/keep', 'keep0'),
    d('opq/'),
    f('opq/old', 'hidden by opaque'),
    d('opq/sub/'),
    f('opq/sub/deep', 'hidden too'),
    d('merged/'),
    f('merged/x', 'x0'),
    d('merged/deep/'),
    f('merged/deep/x', 'dx0'),
    d('bin/'),
    f('bin/tool', '#!/bin/sh\necho tool\n', 0o4755),
    { type: 'hardlink', path: 'bin/tool-link', linkname: 'bin/tool' },
    { type: 'symlink', path: 'bin/sh', linkname: 'tool', mtime: 1_000_000_000 },
    { type: 'symlink', path: 'abs-link', linkname: '/etc/os-release' },
    d('dev/'),
    { type: 'char', path: 'dev/null', devmajor: 1, devminor: 3, mode: 0o666 },
    d('owned/', 0o750, { uid: 1000, gid: 1000 }),
    f('owned/file', 'owned by 1000', 0o640, { uid: 1000, gid: 1000 }),
    f('secret', 'root only', 0o600),
    f('xattr-file', 'x', 0o644, { xattrs: { 'user.comment': 'kept' } }),
    d('lowdir/'),
    f('lowdir/inner', 'inner0'),
    f('big', 'B'.repeat(300_000)),
    d('emptyish/'),
    f('emptyish/only', 'deleted in the merged view'),
  ];
  const l1: TarEntry[] = [
    f('f', 'top\n', 0o640, { mtime: 1_100_000_000 }),
    d('d/'),
    wh('d/.wh.a'),
    f('d/c', 'c1'),
    d('opq/'),
    wh('opq/.wh..wh..opq'),
    f('opq/new', 'only child'),
    d('merged/'),
    f('merged/y', 'y1'),
    d('merged/deep/'),
    f('merged/deep/y', 'dy1'),
    d('emptyish/'),
    wh('emptyish/.wh.only'),
  ];
  return { layers: [{ entries: l0, compression: 'gzip' }, { entries: l1, compression: 'gzip' }] };
}

export interface Env {
  who: Who;
  /** Test directory (owned by the user for 'user'). */
  base: string;
  layers: string;
  upper: string;
  work: string;
  mnt: string;
  /** Runs a shell command as the test's user; asserts success and returns stdout. */
  sh(cmd: string): Promise<string>;
  /** Runs a shell command as the test's user, returning everything. */
  try(cmd: string): Promise<RunResult>;
  /** `ocimount ARGS` as the test's user. */
  cli(args: string[]): Promise<RunResult>;
}

/** Runs a command with stdin closed (helpers/env's run writes stdin, which races quick execs into EPIPE). */
export function run(argv: string[], opts: { unprivileged?: boolean; cwd?: string } = {}): Promise<RunResult> {
  const full = opts.unprivileged ? asUser(argv) : argv;
  return new Promise((resolve, reject) => {
    const child = spawn(full[0], full.slice(1), { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

export function makeEnv(who: Who, prefix: string): Env {
  const base = who === 'user' ? makeUserTmp(prefix) : makeTmp(prefix);
  const unprivileged = who === 'user';
  const e: Env = {
    who,
    base,
    layers: path.join(base, 'layers'),
    upper: path.join(base, 'upper'),
    work: path.join(base, 'work'),
    mnt: path.join(base, 'mnt'),
    sh: async (cmd) => {
      const r = await run(['sh', '-c', cmd], { unprivileged });
      assert.equal(r.code, 0, `${who}: ${cmd}: ${r.stderr}`);
      return r.stdout;
    },
    try: (cmd) => run(['sh', '-c', cmd], { unprivileged }),
    cli: (args) => ocimount(args, { unprivileged }),
  };
  fs.mkdirSync(e.mnt);
  if (unprivileged) fs.chownSync(e.mnt, UNPRIV_UID, UNPRIV_GID);
  return e;
}

/** Writes the image to a layout and unpacks it with the CLI as the env's user (overlay format as root, oci rootless). */
export async function unpackImage(e: Env, spec: ImageSpec, extra: string[] = []): Promise<void> {
  const layout = path.join(makeTmp('layout'), 'img');
  writeImage(layout, spec, { tag: 't' });
  const args = ['unpack', '-q', `${layout}:t`, e.layers, ...extra];
  if (e.who === 'root' && !extra.includes('--format')) args.push('--format', 'overlay');
  const r = await e.cli(args);
  assert.equal(r.code, 0, r.stderr);
}

/** Mounts LAYERS (or --lowerdir) at e.mnt through the CLI (background server); returns the CLI's result. */
export async function mount(e: Env, extra: string[] = [], opts: { lowerdir?: string; readOnly?: boolean } = {}): Promise<RunResult> {
  const src = opts.lowerdir ? ['--lowerdir', opts.lowerdir, e.mnt] : [e.layers, e.mnt];
  const rw = opts.readOnly ? ['--read-only'] : ['--upper', e.upper, '--work', e.work];
  return e.cli(['mount', ...src, ...rw, ...extra]);
}

export async function mustMount(e: Env, extra: string[] = [], opts: { lowerdir?: string; readOnly?: boolean } = {}): Promise<RunResult> {
  const r = await mount(e, extra, opts);
  assert.equal(r.code, 0, `mount as ${e.who}: ${r.stderr}`);
  return r;
}

/** Ends the env's mount with the CLI (as its user), then removes anything left under base. */
export async function teardown(e: Env): Promise<void> {
  try {
    if (fs.readFileSync('/proc/mounts', 'utf8').includes(` ${e.mnt} `)) await e.cli(['umount', e.mnt]);
  } finally {
    unmountAll(e.base);
  }
}

/**
 * A hash of everything under a directory that a client could change: names,
 * types, modes, owners, sizes, mtimes, content, link targets, devices, xattrs.
 */
export function treeHash(root: string): string {
  const h = createHash('sha256');
  const n = native();
  const walk = (rel: string): void => {
    const p = rel ? path.join(root, rel) : root;
    const st = fs.lstatSync(p, { bigint: true });
    h.update(`${rel}\0${st.mode}\0${st.uid}:${st.gid}\0${st.size}\0${st.mtimeNs}\0${st.rdev}\0${st.ino}\0`);
    let xs: string[] = [];
    try {
      xs = n.llistxattr(p).sort();
    } catch {
      /* none */
    }
    for (const x of xs) h.update(`${x}=${n.lgetxattr(p, x).toString('hex')}\0`);
    if (st.isSymbolicLink()) h.update(fs.readlinkSync(p));
    else if (st.isFile()) h.update(fs.readFileSync(p));
    else if (st.isDirectory()) for (const c of fs.readdirSync(p).sort()) walk(rel ? `${rel}/${c}` : c);
  };
  walk('');
  return h.digest('hex');
}

/** Lines of a command's output, empty ones dropped. */
export function lines(s: string): string[] {
  return s.split('\n').filter(Boolean);
}

/** A client session over conformanceImage(): one shell command per line, run in the mount's root. */
export const SESSION = [
  'echo more >> f',
  'rm d/b',
  'echo again > d/b',
  'rm d/keep',
  'rmdir emptyish',
  'rmdir merged',
  'rm -r merged',
  'mkdir merged',
  'echo m > merged/new',
  'mv d/c etc/c-moved',
  'mv opq/new opq/renamed',
  'mkdir -p newdir/sub && echo n > newdir/sub/file',
  'mv newdir newdir2',
  'python3 -c "import os; os.rename(\'lowdir\', \'lowdir2\')"',
  'mv lowdir lowdir3',
  'chmod 0600 xattr-file',
  'chown 7:8 owned/file',
  'ln -s ../etc/os-release bin/osr',
  'ln etc/os-release etc/osr-hard',
  'touch -d "2010-01-01 00:00:00 UTC" big',
  'setfattr -n user.k -v v bin/tool',
  'truncate -s 10 bin/tool-link',
  'mkfifo dev/fifo',
  'mknod dev/zero c 1 5',
  'rm dev/null',
  'rm abs-link',
  'rmdir opq',
  'rm -r opq',
  'mkdir opq',
  'rm secret && mkdir secret',
  'mv etc etc2',
  'ln -s nowhere dangling',
  'mv bin/sh bin/sh2',
  'rm bin/tool-link && echo relinked > bin/tool-link',
  'chmod 4711 bin/tool',
  // (after the chmod: attributes of one hardlink name are cached apart from the other's, see write.test's TODO)
  'ln bin/tool bin/tool-hard',
  'setfattr -x user.comment xattr-file',
  'mkdir d/newsub && rmdir d/newsub',
  'mv d/b d/keep',
  'mv etc2/os-release f',
  'mv -T newdir2 merged',
  'mkdir ud && echo u > ud/x && mv -T ud secret',
  'mkdir ud2 && mv -T ud2 owned',
  'rm -r owned/file && mv -T ud2 owned || true',
  'mv xattr-file d/',
  'touch -d "2011-01-01 UTC" d d/xattr-file',
  'truncate -s 5000 big',
  'dd if=/dev/zero of=big bs=1 count=10 seek=100 conv=notrunc status=none',
  'cp -r bin bin-copy',
  'mkdir -m 0700 private && echo s > private/s && chmod 000 private/s && cat private/s',
  'ln -sf f f-link && rm f && cat f-link',
  'mv merged merged2',
  'rmdir d/no-such-dir',
  'rm -r dev && echo now-a-file > dev',
  'mkdir f2 && mv f2 opq/',
  'mv lowdir3/inner lowdir3/inner2 && mv lowdir3 lowdir4',
];
