// The realistic image end to end: a debootstrap'd Debian minbase in 5 layers (one deleting
// files, one opaque dir) pushed to the local registry, brought up with FUSE and with
// --kernel from one shared store; chroot runs through both, and find listings plus every
// file's sha256 are identical between the back ends. Slow: one file, one sequence.
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildRootfsImage } from '../../src/dev/rootfs-image';
import { startRegistry } from '../../src/dev/registry-server';
import type { Registry } from '../../src/dev/registry-server';
import type { BuiltRootfsImage } from '../../src/dev/rootfs-image';
import { isRoot, makeTmp, mountsUnder, ocimount, run, unmountAll } from '../helpers/env';
import { fileHashes, findListing, firstDifferences } from './listing';

const skipAll = isRoot ? false : 'debootstrap, chroot and kernel mounts need root';
const backends = ['fuse', 'kernel'] as const;

let base = '';
let built: BuiltRootfsImage | undefined;
let imageRef = '';
let store = '';
let registry: Registry | undefined;
const dirs: Record<(typeof backends)[number], string> = { fuse: '', kernel: '' };

async function sh(argv: string[]): Promise<string> {
  const r = await run(argv, { timeoutMs: 300_000 });
  assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  if (skipAll) return;
  base = makeTmp('debian');
  const layoutDir = path.join(base, 'layout');
  built = await buildRootfsImage(layoutDir, { tag: 'minbase' });
  // Through the real registry, as a user would get it.
  registry = await startRegistry({ auth: 'none' });
  await registry.push(layoutDir, 'minbase', 'debian:minbase');
  imageRef = `${registry.host}/debian:minbase`;
  store = path.join(base, 'store');
  for (const b of backends) dirs[b] = path.join(base, `cont-${b}`);
});

after(async () => {
  if (!base) return;
  for (const b of backends) if (dirs[b] && mountsUnder(dirs[b]).length > 0) await ocimount(['down', dirs[b]]);
  unmountAll(base);
  await registry?.stop();
  fs.rmSync(base, { recursive: true, force: true });
});

test('the image is a real debootstrap rootfs in 5 layers', { skip: skipAll }, () => {
  assert.ok(built);
  if (built.facts.source !== 'debootstrap') {
    assert.fail(`debootstrap could not run, a synthetic image was used instead: ${built.facts.fallbackReason}`);
  }
  assert.equal(built.image.manifest.layers.length, 5);
  assert.ok(built.facts.deleted.length >= 3, `whiteouts for ${built.facts.deleted.join(', ')}`);
});

for (const backend of backends) {
  test(`ocimount up ${backend === 'kernel' ? '--kernel ' : ''}gives a rootfs chroot runs in`, { skip: skipAll }, async () => {
    const dir = dirs[backend];
    const r = await ocimount(['up', imageRef, dir, '--store', store, ...(backend === 'kernel' ? ['--kernel'] : [])], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    const rootfs = path.join(dir, 'rootfs');
    assert.deepEqual(mountsUnder(dir), [rootfs]);
    if (built!.facts.source !== 'debootstrap') return; // nothing runnable in a synthetic tree
    const out = await sh(['chroot', rootfs, '/bin/sh', '-c', 'cat /etc/os-release; apt --version; ls /usr/bin | wc -l']);
    assert.match(out, /PRETTY_NAME="Debian GNU\/Linux 12 \(bookworm\)"/);
    assert.match(out, /^apt 2\.\d+\.\d+ \(amd64\)$/m);
    const count = Number(out.trim().split('\n').pop());
    assert.ok(count > 100, `ls /usr/bin | wc -l = ${count}`);
    // The top layer's changes: deleted paths gone, the opaque dir holds only its new file.
    for (const p of built!.facts.deleted) assert.equal(fs.existsSync(path.join(rootfs, p)), false, p);
    assert.deepEqual(fs.readdirSync(path.join(rootfs, built!.facts.opaqueDir)), [built!.facts.opaqueKeeps]);
    assert.equal(fs.readFileSync(path.join(rootfs, built!.facts.added.path), 'utf8'), built!.facts.added.content);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(cfg.process.args, ['/bin/bash']);
  });
}

test('FUSE and kernel views are identical: find listing and sha256 of every file', { skip: skipAll }, async () => {
  const [fuseRoot, kernelRoot] = backends.map((b) => path.join(dirs[b], 'rootfs'));
  for (const d of [fuseRoot, kernelRoot]) assert.equal(mountsUnder(path.dirname(d)).length, 1, `${d} is mounted`);
  const [lf, lk] = await Promise.all([findListing(fuseRoot), findListing(kernelRoot)]);
  assert.ok(lf.length > 5000, `${lf.length} entries`);
  assert.deepEqual(firstDifferences(lf, lk), [], 'find listings differ (- fuse, + kernel)');
  assert.equal(lf.length, lk.length);
  const [hf, hk] = await Promise.all([fileHashes(fuseRoot), fileHashes(kernelRoot)]);
  assert.ok(hf.length > 4000, `${hf.length} files hashed`);
  assert.deepEqual(firstDifferences(hf, hk), [], 'file hashes differ (- fuse, + kernel)');
});

test('runc accepts the bundle config and runs a process in the rootfs', { skip: skipAll }, async () => {
  // scripts/setup.sh installs Debian's runc: its absence is a failure, not a skip.
  assert.equal((await run(['sh', '-c', 'command -v runc'])).code, 0, 'runc is not installed');
  for (const backend of backends) {
    const dir = dirs[backend];
    // A second bundle pointing at the same rootfs, with a command that exits.
    const bundle = path.join(base, `runc-${backend}`);
    fs.mkdirSync(bundle, { recursive: true });
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    cfg.root.path = path.join(dir, 'rootfs');
    cfg.process.args = ['/bin/sh', '-c', 'head -1 /etc/os-release; id -u; cat /proc/1/cmdline | tr "\\0" " "'];
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(cfg));
    const id = `ocimount-test-${backend}-${process.pid}`;
    const r = await run(['runc', '--root', path.join(base, 'runc-state'), 'run', '-b', bundle, id], { timeoutMs: 60_000 });
    await run(['runc', '--root', path.join(base, 'runc-state'), 'delete', '-f', id]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^PRETTY_NAME="Debian GNU\/Linux 12 \(bookworm\)"\n0\n\/bin\/sh -c/);
  }
});

test('down keeps each upper, down --purge removes the bundle', { skip: skipAll }, async () => {
  for (const backend of backends) {
    const dir = dirs[backend];
    await sh(['sh', '-c', `echo ${backend} > ${dir}/rootfs/root/marker`]);
    const d = await ocimount(['down', dir]);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(mountsUnder(dir), []);
    assert.equal(fs.readFileSync(path.join(dir, 'overlayfs/upper/root/marker'), 'utf8'), `${backend}\n`);
    const p = await ocimount(['down', '--purge', dir]);
    assert.equal(p.code, 0, p.stderr);
    assert.deepEqual(fs.readdirSync(dir), []);
  }
});
