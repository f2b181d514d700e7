// The rootless ownership record, in containers/storage's format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RootFsOps, RootlessFsOps, createFsOps, formatOverrideStat, parseOverrideStat, rootlessRealMode } from '../../src/fsops';
import { native } from '../../src/native';
import { isRoot, makeTmp } from '../helpers/env';

test('format: UID:GID:MODE(4+ octal digits):TYPE, devices as char-MAJ-MIN / block-MAJ-MIN', () => {
  assert.equal(formatOverrideStat({ uid: 0, gid: 0, mode: 0o755, type: 'dir' }), '0:0:0755:dir');
  assert.equal(formatOverrideStat({ uid: 1000, gid: 5, mode: 0o4755, type: 'file' }), '1000:5:4755:file');
  assert.equal(formatOverrideStat({ uid: 0, gid: 0, mode: 0, type: 'file' }), '0:0:0000:file');
  assert.equal(formatOverrideStat({ uid: 0, gid: 5, mode: 0o620, type: 'char', major: 136, minor: 3 }), '0:5:0620:char-136-3');
  assert.equal(formatOverrideStat({ uid: 0, gid: 6, mode: 0o660, type: 'block', major: 8, minor: 0 }), '0:6:0660:block-8-0');
  assert.equal(formatOverrideStat({ uid: 1, gid: 1, mode: 0o644, type: 'pipe' }), '1:1:0644:pipe');
});

test('parse: round trip, the old three-field form, and malformed values', () => {
  for (const v of ['0:0:0755:dir', '33:44:0000:file', '0:5:0620:char-4-1', '0:6:0660:block-8-0', '7:8:1777:dir']) {
    assert.equal(formatOverrideStat(parseOverrideStat(v)), v);
  }
  assert.deepEqual(parseOverrideStat('0:0:0555'), { uid: 0, gid: 0, mode: 0o555, type: 'file' });
  for (const bad of ['', '0:0', 'a:0:0755:dir', '0:0:0999:dir', '0:0:0755:weird']) assert.throws(() => parseOverrideStat(bad), /malformed/);
});

test('rootless real modes keep the owner able to work; special bits live only in the record', () => {
  assert.equal(rootlessRealMode('file', 0o000), 0o600);
  assert.equal(rootlessRealMode('file', 0o4755), 0o755);
  assert.equal(rootlessRealMode('dir', 0o555), 0o755);
  assert.equal(rootlessRealMode('dir', 0o1777), 0o777);
});

test('createFsOps picks the implementation once: root when privileged unless rootless is asked for', () => {
  assert.ok(createFsOps({ rootless: true }) instanceof RootlessFsOps);
  if (isRoot) assert.ok(createFsOps() instanceof RootFsOps);
  else assert.ok(createFsOps() instanceof RootlessFsOps);
});

test('rootless own() writes the record on files and dirs, never on symlinks', () => {
  const dir = makeTmp('fsops');
  const f = path.join(dir, 'f');
  const l = path.join(dir, 'l');
  fs.writeFileSync(f, '');
  fs.symlinkSync('f', l);
  const ops = new RootlessFsOps();
  const meta = { uid: 5, gid: 6, mode: 0o640, mtime: { sec: 1, nsec: 2 } };
  ops.own({ path: f, kind: 'file' }, meta);
  ops.own({ path: l, kind: 'symlink' }, meta);
  assert.equal(native().lgetxattr(f, 'user.containers.override_stat').toString(), '5:6:0640:file');
  assert.throws(() => native().lgetxattr(l, 'user.containers.override_stat'), { code: 'ENODATA' });
  ops.setTimes(l, meta); // on the link itself, not its target
  assert.equal(fs.lstatSync(l, { bigint: true }).mtimeNs, 1000000002n);
  assert.notEqual(fs.statSync(f, { bigint: true }).mtimeNs, 1000000002n);
});
