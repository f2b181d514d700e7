// Kernel overlayfs mounts: the scenario on real mounts (both syscall interfaces), whiteouts
// and opaque dirs, 200 layers with long paths, and the LIMIT / PERMISSION / format errors.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountKernel, unmountKernel } from '../../src/mount/kernel';
import { legacyData, LEGACY_DATA_MAX } from '../../src/mount/kernel/options';
import { native } from '../../src/native';
import { isOcimountError } from '../../src/errors';
import type { MountSpec } from '../../src/mount/spec';
import { readMountState } from '../../src/mount/state';
import { unmount } from '../../src/mount/umount';
import { MINI_WEB_ANSWERS } from '../../src/dev/image-builder';
import { isRoot, makeTmp, mountsUnder, run, unmountAll, ROOT } from '../helpers/env';
import { scenarioLayers, writeLayers } from './layers';

const skip = isRoot ? false : 'kernel overlay mounts need root';

function spec(base: string, dirs: string[], extra: Partial<MountSpec> = {}): MountSpec {
  return {
    backend: 'kernel',
    target: path.join(base, 'rootfs'),
    lowerdirs: [...dirs].reverse(), // top first
    upper: path.join(base, 'overlayfs', 'upper'),
    work: path.join(base, 'overlayfs', 'work'),
    layersDir: path.join(base, 'layers'),
    ...extra,
  };
}

/** Unmounts through the API (which also forgets the state file), then sweeps anything left. */
function cleanup(target: string, base: string): void {
  try {
    if (mountsUnder(base).includes(target)) unmountKernel(target);
  } finally {
    unmountAll(base);
  }
}

async function sh(cmd: string): Promise<string> {
  const r = await run(['sh', '-c', cmd]);
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout;
}

for (const api of ['fsopen', 'legacy'] as const) {
  test(`scenario layers through the kernel (${api}): merged view, top layer wins, writes land in upper`, { skip }, async () => {
    const base = makeTmp('kscen');
    const dirs = writeLayers(path.join(base, 'layers'), scenarioLayers());
    const s = spec(base, dirs);
    try {
      const r = mountKernel(s, { api });
      assert.equal(r.api, api);
      assert.ok(mountsUnder(base).includes(s.target));
      // upper and work were created.
      assert.ok(fs.statSync(s.upper!).isDirectory() && fs.statSync(s.work!).isDirectory());
      assert.equal((await sh(`ls ${s.target}`)).split('\n').filter(Boolean).join(' '), MINI_WEB_ANSWERS.topLevel.join(' '));
      assert.equal((await sh(`cat ${s.target}/app/version.txt`)).trim(), MINI_WEB_ANSWERS.version);
      assert.match(await sh(`cat ${s.target}/app/config.json`), /8081/);
      assert.equal(await sh(`ls -A ${s.upper}`), '');
      await sh(`echo "iximiuz Labs Rules!" > ${s.target}/hello.txt`);
      assert.equal(await sh(`cat ${s.upper}/hello.txt`), 'iximiuz Labs Rules!\n');
      for (const d of dirs) assert.equal(fs.existsSync(path.join(d, 'hello.txt')), false);
      // Mounting again on the same target is refused.
      assert.throws(() => mountKernel(s, { api }), (e: unknown) => isOcimountError(e, 'BUSY') && /already a mount point/.test((e as Error).message));
      // A state file records it, so the backend-neutral unmount (ocimount umount) handles it.
      assert.equal(readMountState(s.target)?.backend, 'kernel');
      assert.deepEqual(readMountState(s.target)?.spec.lowerdirs, s.lowerdirs);
      if (api === 'legacy') await unmount(s.target);
      else unmountKernel(s.target);
      assert.deepEqual(mountsUnder(base), []);
      assert.equal(readMountState(s.target), undefined);
    } finally {
      cleanup(s.target, base);
    }
    assert.deepEqual(mountsUnder(base), []);
    // The write survives in upper after unmount.
    assert.equal(fs.readFileSync(path.join(s.upper!, 'hello.txt'), 'utf8'), 'iximiuz Labs Rules!\n');
  });
}

test('whiteouts and opaque dirs (user.overlay.* with userxattr from layers.json) are honoured', { skip }, async () => {
  const base = makeTmp('kwh');
  const dirs = writeLayers(
    path.join(base, 'layers'),
    [
      { 'a/keep': 'k', 'a/gone': 'g', 'b/old1': '1', 'b/old2': '2' },
      { a: null, 'b/new': 'n' },
    ],
    { userxattr: true },
  );
  // Layer 1 deletes a/gone (0/0 char device) and makes b opaque (only b/new stays).
  native().mknod(path.join(dirs[1], 'a', 'gone'), 0o020000, 0);
  native().lsetxattr(path.join(dirs[1], 'b'), 'user.overlay.opaque', Buffer.from('y'), 0);
  const s = spec(base, dirs);
  try {
    const r = mountKernel(s);
    assert.equal(r.spec.userxattr, true);
    assert.equal((await sh(`ls ${s.target}/a`)).trim(), 'keep');
    assert.equal((await sh(`ls ${s.target}/b`)).trim(), 'new');
    assert.match(fs.readFileSync('/proc/self/mountinfo', 'utf8'), /userxattr/);
  } finally {
    cleanup(s.target, base);
  }
});

for (const api of ['fsopen', 'legacy'] as const) {
  test(`200 layers with long paths mount (${api}); the top layer wins`, { skip }, async () => {
    const base = path.join(makeTmp('k200'), 'd'.repeat(90));
    const layersDir = path.join(base, 'layers');
    const trees = Array.from({ length: 200 }, (_, i) => ({ 'shared.txt': `layer ${i}\n`, [`only/${i}.txt`]: String(i) }));
    const dirs = writeLayers(layersDir, trees);
    assert.ok(dirs.every((d) => d.length > 100));
    const s = spec(base, dirs);
    const cwd = process.cwd();
    // With absolute paths the legacy options would not fit one page.
    assert.ok(s.lowerdirs.join(':').length > LEGACY_DATA_MAX);
    try {
      assert.equal(mountKernel(s, { api }).api, api);
      assert.equal(await sh(`cat ${s.target}/shared.txt`), 'layer 199\n');
      assert.equal((await sh(`ls ${s.target}/only | wc -l`)).trim(), '200');
      assert.equal(await sh(`cat ${s.target}/only/0.txt`), '0');
      const opts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.includes(` ${s.target} `))!;
      assert.ok(opts, 'mount listed');
    } finally {
      cleanup(s.target, path.dirname(base));
    }
    // The working directory is restored after the legacy chdir.
    assert.equal(process.cwd(), cwd);
  });
}

test('501 layers: a LIMIT error naming the kernel limit, nothing mounted', async () => {
  const base = makeTmp('k501');
  const dirs = writeLayers(path.join(base, 'layers'), Array.from({ length: 501 }, () => ({})));
  const s = spec(base, dirs);
  try {
    assert.throws(
      () => mountKernel(s),
      (e: unknown) => isOcimountError(e, 'LIMIT') && /501 layers/.test((e as Error).message) && /500/.test((e as Error).message) && /FUSE/.test((e as Error).message),
    );
    assert.deepEqual(mountsUnder(base), []);
  } finally {
    unmountAll(base);
  }
});

test('legacy options: relative paths after chdir when absolute ones exceed a page, LIMIT when even those do not fit', () => {
  const long = '/' + 'p'.repeat(120);
  const lowers = Array.from({ length: 100 }, (_, i) => `${long}/layers/${i}`).reverse();
  const s: MountSpec = { backend: 'kernel', target: '/mnt', lowerdirs: lowers, upper: `${long}/overlayfs/upper`, work: `${long}/overlayfs/work` };
  const d = legacyData(s);
  assert.equal(d.cwd, long);
  assert.ok(d.data.startsWith('lowerdir=layers/99:layers/98:'));
  assert.ok(d.data.endsWith('layers/0,upperdir=overlayfs/upper,workdir=overlayfs/work'));
  // Short enough: absolute paths, no chdir; ':' in a path is escaped.
  assert.deepEqual(legacyData({ backend: 'kernel', target: '/m', lowerdirs: ['/a:b', '/c'], upper: '/u', work: '/w', userxattr: true }), {
    data: 'lowerdir=/a\\:b:/c,upperdir=/u,workdir=/w,userxattr',
  });
  // Layers with no long common parent cannot be shortened.
  const scattered = Array.from({ length: 100 }, (_, i) => `/${String(i).padStart(3, '0')}${'q'.repeat(60)}`);
  assert.throws(() => legacyData({ backend: 'kernel', target: '/m', lowerdirs: scattered }), (e: unknown) => isOcimountError(e, 'LIMIT') && /one page/.test((e as Error).message));
});

test("layers unpacked in the 'oci' format are refused with how to unpack for the kernel", async () => {
  const base = makeTmp('koci');
  const dirs = writeLayers(path.join(base, 'layers'), scenarioLayers(), { format: 'oci' });
  const s = spec(base, dirs);
  try {
    assert.throws(
      () => mountKernel(s),
      (e: unknown) => isOcimountError(e, 'UNSUPPORTED') && /'oci' whiteout format/.test((e as Error).message) && /--format overlay/.test((e as Error).message),
    );
    // Also found without an explicit layersDir (lowers next to layers.json).
    assert.throws(() => mountKernel({ ...s, layersDir: undefined }), (e: unknown) => isOcimountError(e, 'UNSUPPORTED'));
    assert.deepEqual(mountsUnder(base), []);
  } finally {
    unmountAll(base);
  }
});

test('without CAP_SYS_ADMIN: one PERMISSION error suggesting the FUSE default', { skip: isRoot ? false : 'setpriv needs root' }, async () => {
  const base = makeTmp('kperm');
  const dirs = writeLayers(path.join(base, 'layers'), scenarioLayers());
  const s = spec(base, dirs, { upper: path.join(base, 'u'), work: path.join(base, 'w'), target: path.join(base, 'm') });
  const script = `
    const { mountKernel } = require(${JSON.stringify(path.join(ROOT, 'dist/src/mount/kernel.js'))});
    try { mountKernel(${JSON.stringify(s)}); console.log('MOUNTED'); }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
  try {
    const r = await run([process.execPath, '-e', script], { unprivileged: true });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { code: string; message: string };
    assert.equal(out.code, 'PERMISSION');
    assert.match(out.message, /CAP_SYS_ADMIN/);
    assert.match(out.message, /drop --kernel/);
    assert.deepEqual(mountsUnder(base), []);
  } finally {
    unmountAll(base);
  }
});
