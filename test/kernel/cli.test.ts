// `ocimount mount --kernel` and `ocimount umount` on a kernel mount, as a user runs them.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isRoot, makeTmp, mountsUnder, ocimount, unmountAll } from '../helpers/env';
import { scenarioLayers, writeLayers } from './layers';

test('mount --kernel LAYERS_DIR, then umount; --userxattr shows in the mount options', { skip: isRoot ? false : 'needs root' }, async () => {
  const base = makeTmp('kcli');
  const layers = path.join(base, 'layers');
  writeLayers(layers, scenarioLayers());
  const target = path.join(base, 'rootfs');
  const upper = path.join(base, 'overlayfs/upper');
  const work = path.join(base, 'overlayfs/work');
  fs.mkdirSync(target);
  try {
    const r = await ocimount(['mount', layers, target, '--upper', upper, '--work', work, '--kernel']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /kernel overlayfs/);
    const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.includes(` ${target} `));
    assert.match(line ?? '', / - overlay overlay /);
    assert.equal(fs.readFileSync(path.join(target, 'app/version.txt'), 'utf8'), '1.0.1\n');
    const u = await ocimount(['umount', target]);
    assert.equal(u.code, 0, u.stderr);
    assert.deepEqual(mountsUnder(base), []);

    const r2 = await ocimount(['mount', layers, target, '--upper', upper, '--work', work, '--kernel', '--userxattr']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.includes(` ${target} `)) ?? '', /userxattr/);
    assert.equal((await ocimount(['umount', target])).code, 0);
    assert.deepEqual(mountsUnder(base), []);
  } finally {
    unmountAll(base);
  }
});

test('mount --kernel as an unprivileged user: one PERMISSION line suggesting FUSE, exit 1', { skip: isRoot ? false : 'setpriv needs root' }, async () => {
  const base = makeTmp('kcliperm');
  const layers = path.join(base, 'layers');
  writeLayers(layers, scenarioLayers());
  const target = path.join(base, 'rootfs');
  fs.mkdirSync(target);
  fs.mkdirSync(path.join(base, 'overlayfs'));
  fs.chownSync(path.join(base, 'overlayfs'), 4242, 4242);
  try {
    const r = await ocimount(['mount', layers, target, '--upper', path.join(base, 'overlayfs/upper'), '--work', path.join(base, 'overlayfs/work'), '--kernel'], {
      unprivileged: true,
    });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^ocimount: a kernel overlay mount needs root \(CAP_SYS_ADMIN\).*drop --kernel to mount with FUSE/);
    assert.deepEqual(mountsUnder(base), []);
  } finally {
    unmountAll(base);
  }
});
