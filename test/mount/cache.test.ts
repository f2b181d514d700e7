// The caches that make a FUSE mount fast never show stale answers: the kernel's
// entry, attribute and negative-entry caches (long timeouts), and the server's
// readdir answers for directories made only of lower layers. Each check lists or
// looks a name up first (so a cache holds it), changes it through the mount,
// and reads it again at once with ordinary tools, as root and as a user.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { WHO, conformanceImage, lines, makeEnv, mustMount, teardown, unpackImage } from './fixture';

for (const who of WHO) {
  test(`cached listings, lookups and misses follow every change at once (${who})`, async () => {
    const e = makeEnv(who, `cache-${who}`);
    try {
      await unpackImage(e, conformanceImage());
      await mustMount(e);
      const M = e.mnt;
      const ls = async (dir: string) => lines(await e.sh(`ls -A ${M}/${dir}`)).sort();

      // A lower-only directory, listed (cached), then changed in every way.
      const before = await ls('lowdir');
      assert.deepEqual(before, ['inner']);
      await e.sh(`find ${M} > /dev/null`); // lists every directory once
      await e.sh(`echo n > ${M}/lowdir/new`);
      assert.deepEqual(await ls('lowdir'), ['inner', 'new']);
      await e.sh(`mkdir ${M}/lowdir/sub && mv ${M}/lowdir/inner ${M}/lowdir/moved`);
      assert.deepEqual(await ls('lowdir'), ['moved', 'new', 'sub']);
      await e.sh(`rm ${M}/lowdir/new && rmdir ${M}/lowdir/sub`);
      assert.deepEqual(await ls('lowdir'), ['moved']);

      // A merged directory (two lower layers), listed, then a name removed and one added.
      const merged = await ls('merged');
      assert.ok(merged.includes('x'), merged.join(' '));
      await e.sh(`rm ${M}/merged/x && touch ${M}/merged/y`);
      const after = await ls('merged');
      assert.ok(!after.includes('x') && after.includes('y'), after.join(' '));

      // A miss is remembered by the kernel, and forgotten when the name is made.
      assert.notEqual((await e.try(`test -e ${M}/d/nope`)).code, 0);
      assert.notEqual((await e.try(`cat ${M}/d/nope`)).code, 0);
      await e.sh(`echo made > ${M}/d/nope`);
      assert.equal(await e.sh(`cat ${M}/d/nope`), 'made\n');
      await e.sh(`rm ${M}/d/nope`);
      assert.notEqual((await e.try(`test -e ${M}/d/nope`)).code, 0);
      await e.sh(`mkdir ${M}/d/nope && touch ${M}/d/nope/in`);
      assert.deepEqual(await ls('d/nope'), ['in']);

      // Attributes seen once, then changed: size, mode, times show the change at once.
      await e.sh(`stat -c %s ${M}/lowdir/moved`);
      await e.sh(`printf 0123456789 >> ${M}/lowdir/moved && chmod 0600 ${M}/lowdir/moved && touch -d @1500000000 ${M}/lowdir/moved`);
      assert.equal((await e.sh(`stat -c '%s %a %Y' ${M}/lowdir/moved`)).trim(), '16 600 1500000000');

      // A whole lower directory removed after being listed: gone, and recreated empty.
      await e.sh(`ls ${M}/etc > /dev/null && rm -r ${M}/etc && mkdir ${M}/etc`);
      assert.deepEqual(await ls('etc'), []);
      assert.notEqual((await e.try(`cat ${M}/etc/os-release`)).code, 0);
    } finally {
      await teardown(e);
    }
  });
}
