// `ocimount up` / `down` through the CLI on both back ends: the scenario's answers on
// DIR/rootfs, config.json, BUSY on a second up, upper kept by down, removed by --purge.
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MINI_WEB_ANSWERS, miniWeb, writeImage } from '../../src/dev/image-builder';
import { startRegistry } from '../../src/dev/registry-server';
import type { Registry } from '../../src/dev/registry-server';
import { UNPRIV_UID, isRoot, makeTmp, makeUserTmp, mountsUnder, ocimount, run, unmountAll } from '../helpers/env';

function layout(base: string): string {
  const dir = path.join(base, 'layout');
  writeImage(dir, miniWeb(), { tag: 'v1' });
  return `oci:${dir}:v1`;
}

// One real registry for the file, holding mini-web:v1; local "oci:" layouts are the other source.
let registry: Registry | undefined;
before(async () => {
  const fixture = makeTmp('up-fixture');
  writeImage(fixture, miniWeb(), { tag: 'v1' });
  registry = await startRegistry({ auth: 'none' });
  await registry.push(fixture, 'v1', 'mini-web:v1');
});
after(async () => {
  await registry?.stop();
});
function remote(): string {
  return `${registry!.host}/mini-web:v1`;
}

async function sh(cmd: string, unprivileged = false): Promise<string> {
  const r = await run(['sh', '-c', cmd], { unprivileged });
  assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
  return r.stdout;
}

for (const backend of ['fuse', 'kernel'] as const) {
  test(`up/down with ${backend}: scenario answers, BUSY twice, upper kept, purge removes`, { skip: backend === 'kernel' && !isRoot ? 'kernel mounts need root' : false }, async () => {
    const base = makeTmp(`up-${backend}`);
    const ref = remote();
    const dir = path.join(base, 'cont-1');
    const flags = ['--store', path.join(base, 'store'), ...(backend === 'kernel' ? ['--kernel'] : [])];
    try {
      const r = await ocimount(['up', ref, dir, ...flags]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`3 layers \\(${backend}\\)`));
      const rootfs = path.join(dir, 'rootfs');
      assert.deepEqual(mountsUnder(base), [rootfs]);
      assert.deepEqual(fs.readdirSync(path.join(dir, 'layers')).filter((n) => /^\d+$/.test(n)).sort(), ['0', '1', '2']);
      assert.equal((await sh(`ls ${rootfs}`)).split('\n').filter(Boolean).join(' '), MINI_WEB_ANSWERS.topLevel.join(' '));
      assert.equal((await sh(`cat ${rootfs}/app/version.txt`)).trim(), MINI_WEB_ANSWERS.version);
      assert.equal(await sh(`ls -A ${dir}/overlayfs/upper`), '');
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      assert.deepEqual(cfg.process.args, ['python3', '/app/server.py']);
      assert.equal(cfg.process.cwd, '/app');
      assert.equal(cfg.root.path, 'rootfs');
      assert.equal(cfg.annotations['io.github.ocimount.mount.backend'], backend);

      // A second up on the mounted DIR says so and changes nothing.
      const again = await ocimount(['up', ref, dir, ...flags]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already up/);
      assert.deepEqual(mountsUnder(base), [rootfs]);

      await sh(`echo "iximiuz Labs Rules!" > ${rootfs}/hello.txt`);
      for (const n of ['0', '1', '2']) assert.equal(fs.existsSync(path.join(dir, 'layers', n, 'hello.txt')), false);
      assert.equal(fs.readFileSync(path.join(dir, 'overlayfs/upper/hello.txt'), 'utf8'), 'iximiuz Labs Rules!\n');

      const d1 = await ocimount(['down', dir]);
      assert.equal(d1.code, 0, d1.stderr);
      assert.deepEqual(mountsUnder(base), []);
      assert.equal(fs.readFileSync(path.join(dir, 'overlayfs/upper/hello.txt'), 'utf8'), 'iximiuz Labs Rules!\n');
      // down on a DIR that is not up is an error, not a silent success.
      const d2 = await ocimount(['down', dir]);
      assert.equal(d2.code, 1);
      assert.match(d2.stderr, /is not up/);

      // up again: layers reused, the kept upper shows through.
      const r2 = await ocimount(['up', ref, dir, ...flags]);
      assert.equal(r2.code, 0, r2.stderr);
      assert.match(r2.stderr, /already unpacked/);
      assert.equal(await sh(`cat ${rootfs}/hello.txt`), 'iximiuz Labs Rules!\n');

      const d3 = await ocimount(['down', '--purge', dir]);
      assert.equal(d3.code, 0, d3.stderr);
      assert.deepEqual(mountsUnder(base), []);
      for (const p of ['layers', 'overlayfs', 'rootfs', 'config.json']) assert.equal(fs.existsSync(path.join(dir, p)), false, p);
    } finally {
      unmountAll(base);
    }
  });
}

test("up --kernel --format oci is refused with how to unpack for the kernel; nothing stays mounted", { skip: isRoot ? false : 'needs root' }, async () => {
  const base = makeTmp('up-oci');
  const dir = path.join(base, 'b');
  try {
    const r = await ocimount(['up', layout(base), dir, '--kernel', '--format', 'oci', '--store', path.join(base, 'store')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /'oci' whiteout format/);
    assert.match(r.stderr, /--format overlay/);
    assert.deepEqual(mountsUnder(base), []);
  } finally {
    unmountAll(base);
  }
});

test('up --kernel without root: one PERMISSION error suggesting FUSE', { skip: isRoot ? false : 'setpriv needs root' }, async () => {
  const base = makeUserTmp('up-perm');
  const ref = layout(base);
  await sh(`chown -R 4242:4242 ${base}`);
  const dir = path.join(base, 'b');
  try {
    // With or without the flags a kernel mount would need: the privilege is named first,
    // before anything is pulled or unpacked.
    for (const extra of [[], ['--format', 'overlay', '--userxattr']]) {
      const r = await ocimount(['up', ref, dir, '--kernel', '--store', path.join(base, 'store'), ...extra], { unprivileged: true });
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('ocimount:'));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /needs root \(CAP_SYS_ADMIN\).*drop --kernel to mount with FUSE/);
      assert.equal(fs.existsSync(dir), false, 'nothing made');
      assert.equal(fs.existsSync(path.join(base, 'store')), false, 'nothing pulled');
      assert.deepEqual(mountsUnder(base), []);
    }
  } finally {
    unmountAll(base);
  }
});

test('up with FUSE works without root (rootless pull and unpack, fusermount); down --purge cleans up', {
  skip: !isRoot ? 'setpriv needs root' : false,
}, async () => {
  // fusermount3 refuses users without a passwd entry; scripts/setup.sh creates one.
  assert.equal(spawnSync('getent', ['passwd', String(UNPRIV_UID)]).status, 0, `uid ${UNPRIV_UID} has no passwd entry (run scripts/setup.sh)`);
  const base = makeUserTmp('up-user');
  const ref = remote();
  await sh(`chown -R 4242:4242 ${base}`);
  const dir = path.join(base, 'b');
  // A login session's runtime dir, where mount state files go (this machine's /tmp is not world-writable).
  const env = { XDG_RUNTIME_DIR: path.join(base, 'run') };
  fs.mkdirSync(env.XDG_RUNTIME_DIR, { mode: 0o700 });
  fs.chownSync(env.XDG_RUNTIME_DIR, 4242, 4242);
  try {
    const r = await ocimount(['up', ref, dir, '--store', path.join(base, 'store')], { unprivileged: true, env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await sh(`cat ${dir}/rootfs/app/version.txt`, true)).trim(), '1.0.1');
    await sh(`echo hi > ${dir}/rootfs/hello.txt`, true);
    const d = await ocimount(['down', '--purge', dir], { unprivileged: true, env });
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(mountsUnder(base), []);
    assert.deepEqual(fs.readdirSync(dir), []);
  } finally {
    unmountAll(base);
  }
});
