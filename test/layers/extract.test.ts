// The applier: one tar -> one layer directory, checked with lstat/xattrs/ls.
// Runs as root (the suite does); the rootless implementation is exercised here
// in-process (RootlessFsOps) and for real as an unprivileged user in test/unpack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { LayerExtractor } from '../../src/layers/extract';
import { TarParser } from '../../src/layers/tar-reader';
import type { UnpackWarning } from '../../src/layers/warnings';
import { RootFsOps, RootlessFsOps } from '../../src/fsops';
import type { WhiteoutFormat } from '../../src/layers/record';
import { tarBuffer } from '../../src/dev/tar';
import type { TarEntry } from '../../src/dev/tar';
import { native } from '../../src/native';
import { isOcimountError } from '../../src/errors';
import { makeTmp } from '../helpers/env';

interface Opts {
  format?: WhiteoutFormat;
  userxattr?: boolean;
  rootless?: boolean;
  strict?: boolean;
}

/** Extracts entries into <tmp>/layer; <tmp>/outside is a sibling that must stay empty. */
function extract(entries: TarEntry[], opts: Opts = {}): { root: string; outside: string; warnings: UnpackWarning[] } {
  const base = makeTmp('extract');
  const root = path.join(base, 'layer');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(root);
  fs.mkdirSync(outside);
  const warnings: UnpackWarning[] = [];
  const ex = new LayerExtractor(root, {
    fsops: opts.rootless ? new RootlessFsOps() : new RootFsOps(),
    format: opts.format ?? 'overlay',
    userxattr: opts.userxattr ?? false,
    layer: 0,
    strict: opts.strict,
    onWarning: (w) => warnings.push(w),
  });
  const p = new TarParser(ex);
  const tar = tarBuffer(entries);
  for (let o = 0; o < tar.length; o += 1000) p.write(tar.subarray(o, o + 1000));
  p.end();
  ex.finish();
  return { root, outside, warnings };
}

function xattr(p: string, name: string): Buffer | undefined {
  try {
    return native().lgetxattr(p, name);
  } catch {
    return undefined;
  }
}

function tree(root: string): string[] {
  return execFileSync('find', ['.', '-mindepth', '1', '-printf', '%y %p\n'], { cwd: root, encoding: 'utf8' }).trim().split('\n').filter(Boolean).sort();
}

const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');

test('every entry type with owners, modes (setuid/setgid/sticky), devices, times and xattrs', () => {
  const { root, warnings } = extract([
    { type: 'dir', path: 'd/', mode: 0o1777, uid: 1000, gid: 1001, mtime: 1600000000 },
    { type: 'file', path: 'd/suid', content: 'x', mode: 0o4755, uid: 0, gid: 0, mtime: 1600000001 },
    { type: 'file', path: 'd/sgid', content: 'y', mode: 0o2711, uid: 12, gid: 34 },
    { type: 'file', path: 'd/none', content: 'secret', mode: 0o000 },
    { type: 'file', path: 'd/cap', content: 'c', mode: 0o755, uid: 5, gid: 5, xattrs: { 'security.capability': cap, 'trusted.t': Buffer.from([0, 0, 1]), 'user.u': 'v' } },
    { type: 'file', path: 'd/frac', content: 'f', pax: { mtime: '1600000002.123456789' } },
    { type: 'hardlink', path: 'd/hard', linkname: 'd/suid' },
    { type: 'symlink', path: 'd/sym', linkname: '/etc/passwd', uid: 7, gid: 8, mtime: 1600000003 },
    { type: 'char', path: 'd/null', devmajor: 1, devminor: 3, mode: 0o666 },
    { type: 'block', path: 'd/loop', devmajor: 7, devminor: 9, mode: 0o640, gid: 6 },
    { type: 'fifo', path: 'd/fifo', mode: 0o620 },
  ]);
  assert.deepEqual(warnings, []);
  const st = (p: string): fs.BigIntStats => fs.lstatSync(path.join(root, p), { bigint: true });
  const mode = (p: string): string => (Number(st(p).mode) & 0o7777).toString(8);
  assert.equal(mode('d'), '1777');
  assert.deepEqual([st('d').uid, st('d').gid], [1000n, 1001n]);
  assert.equal(st('d').mtimeMs, 1600000000000n);
  assert.equal(mode('d/suid'), '4755');
  assert.equal(mode('d/sgid'), '2711');
  assert.deepEqual([st('d/sgid').uid, st('d/sgid').gid], [12n, 34n]); // setgid survives the chown (mode applied after)
  assert.equal(mode('d/none'), '0');
  assert.equal(fs.readFileSync(path.join(root, 'd/none'), 'utf8'), 'secret');
  assert.equal(st('d/suid').mtimeMs, 1600000001000n);
  assert.equal(st('d/frac').mtimeNs, 1600000002123456789n);
  assert.equal(st('d/hard').ino, st('d/suid').ino);
  assert.equal(fs.readlinkSync(path.join(root, 'd/sym')), '/etc/passwd');
  assert.deepEqual([st('d/sym').uid, st('d/sym').gid, st('d/sym').mtimeMs], [7n, 8n, 1600000003000n]);
  assert.ok(st('d/null').isCharacterDevice());
  assert.deepEqual([native().major(Number(st('d/null').rdev)), native().minor(Number(st('d/null').rdev))], [1, 3]);
  assert.equal(mode('d/null'), '666');
  assert.ok(st('d/loop').isBlockDevice());
  assert.deepEqual([native().major(Number(st('d/loop').rdev)), native().minor(Number(st('d/loop').rdev)), st('d/loop').gid], [7, 9, 6n]);
  assert.ok(st('d/fifo').isFIFO());
  assert.equal(mode('d/fifo'), '620');
  // the capability survived the chown to 5:5 (it is set after it), byte for byte
  assert.deepEqual(xattr(path.join(root, 'd/cap'), 'security.capability'), cap);
  assert.deepEqual(xattr(path.join(root, 'd/cap'), 'trusted.t'), Buffer.from([0, 0, 1]));
  assert.equal(xattr(path.join(root, 'd/cap'), 'user.u')?.toString(), 'v');
  assert.match(execFileSync('getcap', [path.join(root, 'd/cap')], { encoding: 'utf8' }), /cap_net_raw=ep/);
});

test('a file before its parent directory: the directory gets its own metadata at the end', () => {
  const { root } = extract([
    { type: 'file', path: 'late/sub/f', content: 'x' },
    { type: 'dir', path: 'late/', mode: 0o555, uid: 3, gid: 3, mtime: 1500000000 },
    { type: 'dir', path: 'late/sub/', mode: 0o500, mtime: 1500000001 },
  ]);
  const st = fs.lstatSync(path.join(root, 'late'));
  assert.equal(st.mode & 0o7777, 0o555);
  assert.equal(st.uid, 3);
  assert.equal(st.mtimeMs, 1500000000000); // not disturbed by creating children
  assert.equal(fs.lstatSync(path.join(root, 'late/sub')).mode & 0o7777, 0o500);
  assert.equal(fs.readFileSync(path.join(root, 'late/sub/f'), 'utf8'), 'x');
  // an implicit directory (never named in the tar) gets 0755 root:root
  const { root: r2 } = extract([{ type: 'file', path: 'implicit/f', content: 'x' }]);
  assert.equal(fs.lstatSync(path.join(r2, 'implicit')).mode & 0o7777, 0o755);
  assert.equal(fs.lstatSync(r2).mode & 0o7777, 0o755); // the layer root too
});

test('"./" gives the layer root its metadata', () => {
  const { root } = extract([{ type: 'dir', path: './', mode: 0o711, mtime: 1400000000 }, { type: 'file', path: './a', content: 'a' }]);
  assert.equal(fs.lstatSync(root).mode & 0o7777, 0o711);
  assert.equal(fs.lstatSync(root).mtimeMs, 1400000000000);
});

test('duplicate entries: later wins; a repeated directory keeps its children; file <-> dir replacement', () => {
  const { root, warnings } = extract([
    { type: 'file', path: 'dup', content: 'first' },
    { type: 'file', path: 'dup', content: 'second' },
    { type: 'dir', path: 'keep/', mode: 0o700 },
    { type: 'file', path: 'keep/child', content: 'c' },
    { type: 'dir', path: 'keep/', mode: 0o750, mtime: 1300000000 },
    { type: 'dir', path: 'd2f/' },
    { type: 'file', path: 'd2f/inner', content: 'gone' },
    { type: 'file', path: 'd2f', content: 'now a file' },
    { type: 'file', path: 'f2d', content: 'was a file' },
    { type: 'dir', path: 'f2d/' },
    { type: 'file', path: 'f2d/x', content: 'x' },
    { type: 'symlink', path: 's2f', linkname: '../outside/target' },
    { type: 'file', path: 's2f', content: 'replaces the link, never written through it' },
  ]);
  assert.deepEqual(warnings, []);
  const read = (p: string): string => fs.readFileSync(path.join(root, p), 'utf8');
  assert.equal(read('dup'), 'second');
  assert.equal(read('keep/child'), 'c');
  assert.equal(fs.lstatSync(path.join(root, 'keep')).mode & 0o777, 0o750);
  assert.equal(read('d2f'), 'now a file');
  assert.equal(read('f2d/x'), 'x');
  assert.ok(fs.lstatSync(path.join(root, 's2f')).isFile());
  assert.deepEqual(tree(root), ['d ./f2d', 'd ./keep', 'f ./d2f', 'f ./dup', 'f ./f2d/x', 'f ./keep/child', 'f ./s2f']);
});

test('hostile names never write outside the layer, each with a coded warning naming the entry', () => {
  const { root, outside, warnings } = extract([
    { type: 'file', path: '../outside/dotdot', content: 'evil' },
    { type: 'file', path: 'a/../../outside/dotdot2', content: 'evil' },
    { type: 'file', path: '/abs/file', content: 'neutralised' },
    { type: 'file', path: '////outside-abs', content: 'neutralised' }, // node-tar GHSA-3jfq-g458-7qm9
    { type: 'symlink', path: 'escape', linkname: '../outside' },
    { type: 'file', path: 'escape/through-symlink', content: 'evil' },
    { type: 'hardlink', path: 'hl-dotdot', linkname: '../outside/victim' },
    { type: 'hardlink', path: 'hl-through', linkname: 'escape/victim' },
    { type: 'hardlink', path: 'hl-abs', linkname: '/etc/passwd' },
    // node-tar GHSA-r628-mhmh-qjhw / GHSA-9r2w-394v-53qc: a directory, then a symlink of the
    // same name, then a file under it must not follow the symlink
    { type: 'dir', path: 'cache/' },
    { type: 'symlink', path: 'cache', linkname: '../outside' },
    { type: 'file', path: 'cache/poisoned', content: 'evil' },
    { type: 'symlink', path: 'meta-link', linkname: '../outside/victim', mode: 0o777 },
  ]);
  fs.writeFileSync(path.join(outside, 'victim'), 'untouched');
  assert.deepEqual(fs.readdirSync(outside), ['victim']);
  assert.equal(fs.readFileSync(path.join(root, 'abs/file'), 'utf8'), 'neutralised');
  assert.equal(fs.readFileSync(path.join(root, 'outside-abs'), 'utf8'), 'neutralised');
  const byEntry = warnings.map((w) => `${w.code} ${w.entry}`);
  assert.deepEqual(byEntry, [
    'DOTDOT_PATH ../outside/dotdot',
    'DOTDOT_PATH a/../../outside/dotdot2',
    'ABSOLUTE_PATH /abs/file',
    'ABSOLUTE_PATH ////outside-abs',
    'SYMLINK_PARENT escape/through-symlink',
    'HARDLINK_ESCAPE hl-dotdot',
    'HARDLINK_ESCAPE hl-through',
    'HARDLINK_MISSING hl-abs',
    'SYMLINK_PARENT cache/poisoned',
  ]);
  for (const w of warnings) assert.ok(w.message.includes(`"${w.entry}"`), w.message);
  // strict mode turns them into UNSAFE_PATH errors
  assert.throws(
    () => extract([{ type: 'file', path: '../x', content: '' }], { strict: true }),
    (e: unknown) => isOcimountError(e, 'UNSAFE_PATH') && (e as Error).message.includes('../x'),
  );
});

test('overlay format: whiteouts become 0/0 char devices, opaque markers become trusted.overlay.opaque', () => {
  const { root, warnings } = extract([
    { type: 'file', path: '.wh.gone', content: '' },
    { type: 'dir', path: 'etc/' },
    { type: 'file', path: 'etc/.wh.passwd' },
    { type: 'dir', path: 'opq/' },
    { type: 'file', path: 'opq/new', content: 'n' },
    { type: 'file', path: 'opq/.wh..wh..opq' }, // after its siblings: applies all the same
    { type: 'file', path: 'implicit/.wh..wh..opq' }, // before its directory exists
    // same-layer rules: a whiteout never hides an entry of its own layer
    { type: 'file', path: 'kept', content: 'mine' },
    { type: 'file', path: '.wh.kept' },
    { type: 'dir', path: 'samedir/' },
    { type: 'file', path: 'samedir/child', content: 'c' },
    { type: 'file', path: '.wh.samedir' }, // => samedir stays, opaque over lower layers
    { type: 'file', path: '.wh.readded' },
    { type: 'file', path: 'readded', content: 'back' }, // replaces this layer's whiteout
    { type: 'file', path: '.wh.redir' },
    { type: 'file', path: 'redir/child', content: 'c' }, // implicit dir replacing the whiteout => opaque
    { type: 'file', path: '.wh..wh.plnk' },
    { type: 'file', path: 'xa', content: '', xattrs: { 'trusted.overlay.opaque': 'y', 'trusted.overlay.redirect': '/x' } },
  ]);
  const st = (p: string): fs.Stats => fs.lstatSync(path.join(root, p));
  for (const p of ['gone', 'etc/passwd']) {
    assert.ok(st(p).isCharacterDevice(), p);
    assert.equal(st(p).rdev, 0);
  }
  const opaque = (p: string): string | undefined => xattr(path.join(root, p), 'trusted.overlay.opaque')?.toString();
  assert.equal(opaque('opq'), 'y');
  assert.equal(opaque('implicit'), 'y');
  assert.equal(opaque('samedir'), 'y');
  assert.equal(opaque('redir'), 'y');
  assert.equal(opaque('etc'), undefined);
  assert.equal(fs.readFileSync(path.join(root, 'kept'), 'utf8'), 'mine');
  assert.equal(fs.readFileSync(path.join(root, 'readded'), 'utf8'), 'back');
  assert.equal(fs.readFileSync(path.join(root, 'samedir/child'), 'utf8'), 'c');
  assert.equal(xattr(path.join(root, 'xa'), 'trusted.overlay.redirect'), undefined);
  assert.deepEqual(tree(root), [
    'c ./etc/passwd',
    'c ./gone',
    'd ./etc',
    'd ./implicit',
    'd ./opq',
    'd ./redir',
    'd ./samedir',
    'f ./kept',
    'f ./opq/new',
    'f ./readded',
    'f ./redir/child',
    'f ./samedir/child',
    'f ./xa',
  ]);
  assert.deepEqual(
    warnings.map((w) => `${w.code} ${w.entry}`),
    ['AUFS_META .wh..wh.plnk', 'OVERLAY_XATTR_DROPPED xa', 'OVERLAY_XATTR_DROPPED xa'],
  );
});

test('overlay format with --userxattr marks opaque directories with user.overlay.opaque', () => {
  const { root } = extract([{ type: 'file', path: 'd/.wh..wh..opq' }], { userxattr: true });
  assert.equal(xattr(path.join(root, 'd'), 'user.overlay.opaque')?.toString(), 'y');
  assert.equal(xattr(path.join(root, 'd'), 'trusted.overlay.opaque'), undefined);
});

test('oci format keeps whiteout files exactly as in the tar', () => {
  const { root } = extract(
    [
      { type: 'file', path: '.wh.gone', content: '' },
      { type: 'file', path: 'd/.wh..wh..opq', content: '' },
      { type: 'file', path: 'd/x', content: 'x' },
    ],
    { format: 'oci' },
  );
  assert.deepEqual(tree(root), ['d ./d', 'f ./.wh.gone', 'f ./d/.wh..wh..opq', 'f ./d/x']);
  assert.equal(xattr(path.join(root, 'd'), 'trusted.overlay.opaque'), undefined);
});

test('a bare ".wh." is an error in both formats', () => {
  for (const format of ['overlay', 'oci'] as const) {
    assert.throws(
      () => extract([{ type: 'file', path: 'd/.wh.' }], { format }),
      (e: unknown) => isOcimountError(e, 'CORRUPT') && /bare/.test((e as Error).message),
    );
  }
});

test('rootless implementation: override_stat records, device stand-ins, owner-usable real modes', () => {
  const { root, warnings } = extract(
    [
      { type: 'dir', path: 'ro/', mode: 0o555, uid: 1, gid: 2 },
      { type: 'file', path: 'ro/zero', content: 'z', mode: 0o000, uid: 33, gid: 44 },
      { type: 'file', path: 'ro/suid', content: 's', mode: 0o4755 },
      { type: 'char', path: 'ro/tty', devmajor: 4, devminor: 1, mode: 0o620, gid: 5 },
      { type: 'block', path: 'ro/sda', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
      { type: 'symlink', path: 'ro/link', linkname: 'zero', uid: 9 },
    ],
    { rootless: true, format: 'oci' },
  );
  const rec = (p: string): string | undefined => xattr(path.join(root, p), 'user.containers.override_stat')?.toString();
  assert.equal(rec('.'), '0:0:0755:dir'); // the layer root: how fuse-overlayfs detects the records
  assert.equal(rec('ro'), '1:2:0555:dir');
  assert.equal(rec('ro/zero'), '33:44:0000:file');
  assert.equal(rec('ro/suid'), '0:0:4755:file');
  assert.equal(rec('ro/tty'), '0:5:0620:char-4-1');
  assert.equal(rec('ro/sda'), '0:6:0660:block-8-0');
  const st = (p: string): fs.Stats => fs.lstatSync(path.join(root, p));
  assert.ok(st('ro/tty').isFile());
  assert.equal(st('ro/tty').size, 0);
  assert.equal(st('ro').mode & 0o7777, 0o755);
  assert.equal(st('ro/zero').mode & 0o7777, 0o600);
  assert.equal(st('ro/suid').mode & 0o7777, 0o755); // no setuid bit on disk; it is in the record
  assert.deepEqual(
    warnings.map((w) => w.code),
    ['ROOTLESS_OWNERSHIP'],
  );
});
