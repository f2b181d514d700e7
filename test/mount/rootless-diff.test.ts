// The kernel-diff session, run by root on a root mount of overlay-format layers and
// by the unprivileged user on its own mount of rootless oci-format layers: the
// merged views must end up alike (the rootless one keeps owners, modes and devices
// in override_stat records and whiteouts as .wh. files, and shows the same).
// The root mount is checked against the kernel overlay in kernel-diff.test.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { UNPRIV_GID, UNPRIV_UID, isRoot } from '../helpers/env';
import { SESSION, conformanceImage, lines, makeEnv, mustMount, teardown, treeHash, unpackImage, type Env } from './fixture';

/** The merged view as listed by the mount's own user: find's type, mode, owner, size, link target, and content hashes. */
async function listing(e: Env, since: number): Promise<string[]> {
  const out = await e.sh(
    `cd ${e.mnt} && find . -mindepth 1 -printf '%p|%y|%m|%U:%G|%s|%l|%T@\\n' | sort && find . -type f -exec md5sum {} + | sort -k2`,
  );
  return lines(out).map((l) => {
    const f = l.split('|');
    if (f.length !== 7) return l;
    // The user's own new entries are its own on the rootless mount and root's on the root mount.
    f[3] = f[3] === `${UNPRIV_UID}:${UNPRIV_GID}` ? '0:0' : f[3];
    // Directory sizes are the backing filesystem's; times set now differ by nature.
    if (f[1] === 'd') f[4] = '';
    f[6] = Number(f[6]) * 1000 >= since ? 'new' : String(Math.floor(Number(f[6])));
    // Trees `mv` copied get their times through utimensat with two times (see kernel-diff): left out.
    if (/^\.\/(etc2|lowdir4)\//.test(f[0])) f[6] = '';
    return f.join('|');
  });
}

test('the same session on a rootless mount and on a root mount ends with the same merged view', { skip: isRoot ? false : 'the root half needs root' }, async () => {
  const R = makeEnv('root', 'rdiff-root');
  const U = makeEnv('user', 'rdiff-user');
  try {
    const before: string[] = [];
    for (const e of [R, U]) {
      await unpackImage(e, conformanceImage());
      before.push(treeHash(e.layers));
      await mustMount(e);
    }
    const since = Date.now() - 1000;
    // Device nodes need privileges, and the kernel's protected_hardlinks check refuses a
    // user a hardlink to a file shown as root's setuid binary (before the server is asked);
    // everything else must go the same way.
    for (const cmd of SESSION.filter((c) => !c.startsWith('mknod') && c !== 'ln bin/tool bin/tool-hard')) {
      const r = await R.try(`cd ${R.mnt} && ${cmd}`);
      const u = await U.try(`cd ${U.mnt} && ${cmd}`);
      assert.equal(u.code === 0, r.code === 0, `${cmd}: root ${r.code} ${r.stderr.trim()} / user ${u.code} ${u.stderr.trim()}`);
    }
    assert.deepEqual(await listing(U, since), await listing(R, since));
    assert.deepEqual([treeHash(R.layers), treeHash(U.layers)], before, 'a lower layer changed');
  } finally {
    await teardown(R);
    await teardown(U);
  }
});
