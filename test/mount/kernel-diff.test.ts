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
import { conformanceImage, makeEnv, run, teardown, unpackImage } from './fixture';

/** One command per line, run in the mount's root; each one's exit status is compared. */
const SESSION = [
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
];

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
      const mtime = opts.since === undefined ? '' : st.mtimeMs >= opts.since ? 'new' : String(Math.floor(st.mtimeMs / 1000));
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
  } finally {
    await teardown(e);
  }
});
