// The README's first command runs scripts/demo.sh (setup, then this script): it must
// print every one of the scenario's answers as correct and leave nothing mounted.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MINI_WEB_ANSWERS } from '../../src/dev/image-builder';
import { ROOT, isRoot, makeTmp, mountsUnder, run, unmountAll } from '../helpers/env';

test('the demo walks the scenario and prints every answer as correct', async () => {
  const base = makeTmp('demo');
  const dir = path.join(base, 'work');
  try {
    const r = await run([process.execPath, path.join(ROOT, 'dist', 'scripts', 'demo.js'), '--dir', dir]);
    assert.equal(r.code, 0, r.stdout.slice(-2000) + r.stderr);
    const answers = [...r.stdout.matchAll(/^A: (.*?)    \((correct|WRONG.*)\)$/gm)];
    const backends = isRoot ? 2 : 1;
    // 3 layer listings, then 5 questions per back end.
    assert.equal(answers.length, 3 + 5 * backends, r.stdout);
    for (const a of answers) assert.equal(a[2], 'correct', a[0]);
    assert.match(r.stdout, new RegExp(`^A: ${MINI_WEB_ANSWERS.topLevel.join(' ')} `, 'm'));
    assert.match(r.stdout, /^A: 1\.0\.1 /m);
    // ocimount which names the layer that answers, before and after the write
    assert.match(r.stdout, /^\/app\/version\.txt: file, 6 bytes, mode 0644, owner 0:0, from layer 2:sha256:[0-9a-f]{12}$/m);
    assert.match(r.stdout, /^\/hello\.txt: file, 20 bytes, mode 0644, owner 0:0, from the upper dir$/m);
    assert.match(r.stdout, /All of the scenario's answers came out right/);
    assert.deepEqual(mountsUnder(base), []);
    // Without --keep the demo removes its directory.
    assert.equal(fs.existsSync(dir), false);
  } finally {
    unmountAll(base);
  }
});
