// Rootless for real: the CLI runs as an unprivileged user (setpriv, no caps) on a
// layout it can read, into a directory it owns. Ownership, modes and devices go
// into user.containers.override_stat, read back with getfattr, and fuse-overlayfs
// (which reads that record) shows the image's owners and modes from our layers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeImage } from '../../src/dev/image-builder';
import type { ImageSpec } from '../../src/dev/image-builder';
import { readLayersRecord } from '../../src/layers/record';
import { UNPRIV_UID, asUser, makeTmp, makeUserTmp, ocimount, unmountAll } from '../helpers/env';
import { whiteoutImage } from './fixtures';

const sh = (argv: string[]): string => execFileSync(argv[0], argv.slice(1), { encoding: 'utf8' });
const record = (p: string): string => sh(['getfattr', '-h', '--only-values', '-n', 'user.containers.override_stat', p]);

function image(): ImageSpec {
  const spec = whiteoutImage();
  const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex');
  spec.layers.push({
    compression: 'zstd',
    entries: [
      { type: 'file', path: 'caps', content: 'c', mode: 0o755, xattrs: { 'security.capability': cap, 'trusted.t': 'x', 'user.kept': 'yes' } },
      { type: 'block', path: 'sda', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
    ],
  });
  return spec;
}

test('rootless unpack as an unprivileged user records owners, modes and devices in override_stat', async () => {
  const layout = path.join(makeTmp('layout'), 'img');
  writeImage(layout, image(), { tag: 'r' });
  const layers = path.join(makeUserTmp('rootless'), 'L');
  const r = await ocimount(['unpack', `${layout}:r`, layers], { unprivileged: true });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /4 layers in .* \(format oci, rootless\)/);
  // what could not be set without privileges is named, once per xattr
  assert.match(r.stderr, /warning \[XATTR_SKIPPED\]: layer 3: xattr "security.capability" could not be set on 1 entry/);
  assert.match(r.stderr, /warning \[XATTR_SKIPPED\]: layer 3: xattr "trusted.t"/);

  const L = (p: string): string => path.join(layers, p);
  assert.equal(record(L('0')), '0:0:0755:dir');
  assert.equal(record(L('0/ro')), '1000:1000:0555:dir');
  assert.equal(record(L('0/ro/secret')), '1000:1000:0000:file');
  assert.equal(record(L('0/bin/tool')), '0:0:4755:file');
  assert.equal(record(L('0/tmp')), '0:0:1777:dir');
  assert.equal(record(L('0/dev/null')), '0:0:0666:char-1-3');
  assert.equal(record(L('3/sda')), '0:6:0660:block-8-0');
  assert.equal(sh(['getfattr', '-h', '--only-values', '-n', 'user.kept', L('3/caps')]), 'yes');
  // on disk: owned by the user, devices are empty files, modes keep the owner able to work
  const st = fs.lstatSync(L('0/dev/null'));
  assert.ok(st.isFile());
  assert.equal(st.uid, UNPRIV_UID);
  assert.ok(fs.lstatSync(L('0/dev/fifo')).isFIFO());
  assert.equal(fs.lstatSync(L('0/ro/secret')).mode & 0o777, 0o600);
  assert.equal(sh(asUser(['cat', L('0/ro/secret')])), 'nobody may read me');
  // oci format: whiteouts kept as files
  assert.ok(fs.lstatSync(L('1/.wh.gone.txt')).isFile());
  const rec = readLayersRecord(layers);
  assert.deepEqual([rec.format, rec.rootless, rec.userxattr], ['oci', true, false]);
  // the user can remove what it unpacked (no read-only dirs left in its way)
  sh(asUser(['rm', '-rf', layers]));
  assert.ok(!fs.existsSync(layers));
});

test('rootless overlay format needs --userxattr; with it, whiteouts are 0/0 devices and opaque dirs user.overlay.opaque', async () => {
  const layout = path.join(makeTmp('layout'), 'img');
  writeImage(layout, whiteoutImage(), { tag: 'w' });
  const dir = makeUserTmp('rootless');
  const no = await ocimount(['unpack', `${layout}:w`, path.join(dir, 'A'), '--format', 'overlay'], { unprivileged: true });
  assert.equal(no.code, 2);
  assert.match(no.stderr, /needs --userxattr/);
  const L = path.join(dir, 'L');
  const r = await ocimount(['unpack', `${layout}:w`, L, '--format', 'overlay', '--userxattr'], { unprivileged: true });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(sh(['stat', '-c', '%F %t:%T', path.join(L, '1/gone.txt')]).trim(), 'character special file 0:0');
  assert.equal(sh(['getfattr', '-h', '--only-values', '-n', 'user.overlay.opaque', path.join(L, '1/dir')]), 'y');
});

test('fuse-overlayfs reads our rootless layers: owners and modes from override_stat, oci whiteouts honoured', async () => {
  const base = makeTmp('fo');
  const layout = path.join(base, 'img');
  writeImage(layout, whiteoutImage(), { tag: 'w' });
  const layers = path.join(makeUserTmp('rootless'), 'L');
  const r = await ocimount(['unpack', `${layout}:w`, layers], { unprivileged: true });
  assert.equal(r.code, 0, r.stderr);
  const mnt = path.join(base, 'mnt');
  fs.mkdirSync(mnt);
  try {
    sh(['fuse-overlayfs', '-o', `lowerdir=${[2, 1, 0].map((i) => path.join(layers, String(i))).join(':')}`, mnt]);
    const stat = (p: string): string => sh(['stat', '-c', '%A %u:%g', path.join(mnt, p)]).trim();
    assert.equal(stat('ro'), 'dr-xr-xr-x 1000:1000');
    assert.equal(stat('ro/secret'), '---------- 1000:1000');
    assert.equal(stat('bin/tool'), '-rwsr-xr-x 0:0');
    assert.equal(stat('tmp'), 'drwxrwxrwt 0:0');
    assert.deepEqual(sh(['ls', '-A', mnt]).trim().split('\n'), ['a', 'bin', 'd2f', 'd3', 'dev', 'dir', 'dup', 'f2d', 'late', 'readd.txt', 'ro', 'tmp', 'xattr-file']);
    assert.equal(sh(['ls', '-A', path.join(mnt, 'dir')]).trim(), 'new');
    // fuse-overlayfs applies the record's mode bits only (not its type) and only to files and
    // directories, so dev/null shows as an empty regular file with mode 0666 there.
    assert.equal(stat('dev/null'), '-rw-rw-rw- 0:0');
  } finally {
    unmountAll(mnt);
  }
});
