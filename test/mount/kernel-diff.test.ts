// The same client session on the kernel overlay and on the FUSE overlay, as root,
// over the same unpacked layers: the merged views and the upper dirs must end up
// alike (names, types, modes, owners, sizes, content, link targets, whiteout and
// opaque forms), and every command must succeed or fail the same way.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isRoot } from '../helpers/env';
import { native } from '../../src/native';
import { SESSION, conformanceImage, makeEnv, run, teardown, treeHash, unpackImage } from './fixture';


/** path -> "type mode uid:gid size detail" of a tree (content hashed for files), never following links. */
function snapshot(root: string, opts: { upper?: boolean; since?: number } = {}): Map<string, string> {
  const out = new Map<string, string>();
  const n = native();
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(root, r);
      const st = fs.lstatSync(p);
      let detail = '';
      let type = 'file';
      if (st.isDirectory()) type = 'dir';
      else if (st.isSymbolicLink()) (type = 'symlink'), (detail = fs.readlinkSync(p));
      else if (st.isCharacterDevice()) (type = 'char'), (detail = String(st.rdev));
      else if (st.isFIFO()) type = 'fifo';
      else detail = fs.readFileSync(p).toString('base64').slice(0, 40);
      let xattrs: string[] = [];
      try {
        xattrs = n.llistxattr(p).sort();
      } catch {
        /* none */
      }
      // In upper, only the opaque marker is part of the format; origin/impure records are the kernel's own.
      const kept = xattrs.filter((x) => (opts.upper ? x === 'trusted.overlay.opaque' || !x.startsWith('trusted.overlay.') : true));
      const xs = kept.map((x) => `${x}=${n.lgetxattr(p, x).toString()}`).join(',');
      const size = type === 'dir' ? '' : String(st.size);
      // Times set during the session differ by nature; older ones must have been kept alike.
      // Trees `mv` copied (its EXDEV fallback) have their times set by utimensat with two
      // different times, which fuse-native cannot pass on (write.test's TODO): left out.
      const copied = /^(etc2|lowdir4)\//.test(r);
      const mtime = opts.since === undefined || copied ? '' : st.mtimeMs >= opts.since ? 'new' : String(Math.floor(st.mtimeMs / 1000));
      out.set(r, `${type} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${size} ${mtime} ${detail} ${xs}`.trim());
      if (type === 'dir') walk(r);
    }
  };
  walk('');
  return out;
}

test('a session on the FUSE overlay ends like the same session on the kernel overlay', { skip: isRoot ? false : 'kernel overlay mounts need root' }, async () => {
  const e = makeEnv('root', 'kdiff');
  try {
    await unpackImage(e, conformanceImage());
    const before = treeHash(e.layers);
    const dirs = (k: string) => ({ mnt: path.join(e.base, `mnt-${k}`), upper: path.join(e.base, `upper-${k}`), work: path.join(e.base, `work-${k}`) });
    const K = dirs('kernel');
    const F = dirs('fuse');
    for (const [d, extra] of [[K, ['--kernel']], [F, []]] as const) {
      fs.mkdirSync(d.mnt);
      const r = await e.cli(['mount', e.layers, d.mnt, '--upper', d.upper, '--work', d.work, ...extra]);
      assert.equal(r.code, 0, r.stderr);
    }
    const since = Date.now() - 1000;
    for (const cmd of SESSION) {
      const k = await run(['sh', '-c', `cd ${K.mnt} && ${cmd}`]);
      const f = await run(['sh', '-c', `cd ${F.mnt} && ${cmd}`]);
      assert.equal(f.code === 0, k.code === 0, `${cmd}: kernel ${k.code} ${k.stderr.trim()} / fuse ${f.code} ${f.stderr.trim()}`);
    }
    const mk = snapshot(K.mnt, { since });
    const mf = snapshot(F.mnt, { since });
    // Times of entries the session made differ by nature; everything else must match.
    assert.deepEqual([...mf.entries()], [...mk.entries()]);
    for (const d of [K, F]) assert.equal((await e.cli(['umount', d.mnt])).code, 0);
    assert.deepEqual([...snapshot(F.upper, { upper: true }).entries()], [...snapshot(K.upper, { upper: true }).entries()]);
    assert.equal(treeHash(e.layers), before, 'a lower layer changed');
  } finally {
    await teardown(e);
  }
});
