// The scenario (shared/seed) steps 4 and 5 through a FUSE mount of mini-web:v1,
// as root and as an unprivileged user; --trace lines; `ocimount which`.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MINI_WEB_ANSWERS, miniWeb } from '../../src/dev/image-builder';
import { readLayersRecord } from '../../src/layers/record';
import { WHO, conformanceImage, lines, makeEnv, mustMount, teardown, treeHash, unpackImage } from './fixture';

for (const who of WHO) {
  test(`scenario steps 4 and 5 through a FUSE mount of mini-web:v1 (${who})`, async () => {
    const e = makeEnv(who, `scenario-${who}`);
    try {
      await unpackImage(e, miniWeb());
      const before = ['0', '1', '2'].map((n) => treeHash(path.join(e.layers, n)));
      await mustMount(e);
      // Step 4: top-level entries, the top layer's version, upper empty.
      assert.equal(lines(await e.sh(`ls ${e.mnt}/`)).join(' '), MINI_WEB_ANSWERS.topLevel.join(' '));
      assert.equal((await e.sh(`cat ${e.mnt}/app/version.txt`)).trim(), '1.0.1');
      assert.equal(await e.sh(`ls -A ${e.upper}/`), '');
      // Step 5: a new file appears in upper only.
      await e.sh(`echo "iximiuz Labs Rules!" > ${e.mnt}/hello.txt`);
      for (const n of ['0', '1', '2']) assert.equal(fs.existsSync(path.join(e.layers, n, 'hello.txt')), false, `layer ${n}`);
      assert.equal(await e.sh(`cat ${e.upper}/hello.txt`), 'iximiuz Labs Rules!\n');
      assert.deepEqual(lines(await e.sh(`ls -A ${e.upper}/`)), ['hello.txt']);
      assert.equal(await e.sh(`cat ${e.mnt}/hello.txt`), 'iximiuz Labs Rules!\n');
      assert.deepEqual(['0', '1', '2'].map((n) => treeHash(path.join(e.layers, n))), before);
    } finally {
      await teardown(e);
    }
  });

  test(`--trace=FILE: op, path, result, answering layer, whiteout/opaque hits, copy-up, duration (${who})`, async () => {
    const e = makeEnv(who, `trace-${who}`);
    try {
      await unpackImage(e, conformanceImage());
      const rec = readLayersRecord(e.layers);
      const label = (i: number) => `${i}:${rec.layers[i].digest.slice(0, 19)}`;
      const traceFile = path.join(e.base, 'trace.log');
      await mustMount(e, [`--trace=${traceFile}`]);
      await e.sh(`cat ${e.mnt}/d/b ${e.mnt}/f > /dev/null; ls ${e.mnt}/opq > /dev/null; cat ${e.mnt}/d/a 2>/dev/null; echo more >> ${e.mnt}/f; rm ${e.mnt}/d/keep; cat ${e.mnt}/f > /dev/null`);
      await e.cli(['umount', e.mnt]);
      const t = lines(fs.readFileSync(traceFile, 'utf8'));
      const find = (re: RegExp): string => {
        const l = t.find((x) => re.test(x));
        assert.ok(l, `no trace line matching ${re}:\n${t.join('\n')}`);
        return l;
      };
      const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      // Every line: ISO time, op, path, =>, result, then notes, then a duration.
      for (const l of t) assert.match(l, /^\d{4}-\d\d-\d\dT\S+Z \w+ \/\S* => \S+.* \d+us$/, l);
      find(new RegExp(`open /d/b => fd=\\d+ layer=${esc(label(0))} `));
      find(new RegExp(`open /f => fd=\\d+ layer=${esc(label(1))} \\d+us$`));
      find(new RegExp(`getattr /d/a => ENOENT whiteout@${esc(label(1))}:/d/a `));
      find(new RegExp(`readdir /opq => 1 names layer=${esc(label(1))} opaque@${esc(label(1))}:/opq `));
      find(/open \/f => fd=\d+ layer=\S+ copy-up=\/f \d+us$/);
      find(/write \/f => 5B \d+us$/);
      find(/unlink \/d\/keep => ok layer=\S+ copy-up=\/d \d+us$/);
      // After the copy-up, upper answers.
      const opens = t.filter((l) => / open \/f /.test(l));
      assert.match(opens[opens.length - 1], /layer=upper/);
    } finally {
      await teardown(e);
    }
  });

  test(`ocimount which: a file, a whited-out path, a path under an opaque dir (${who})`, async () => {
    const e = makeEnv(who, `which-${who}`);
    try {
      await unpackImage(e, conformanceImage());
      const rec = readLayersRecord(e.layers);
      const l0 = `0:${rec.layers[0].digest.slice(0, 19)}`;
      const l1 = `1:${rec.layers[1].digest.slice(0, 19)}`;
      const f = await e.cli(['which', e.layers, '/f']);
      assert.equal(f.code, 0, f.stderr);
      const fl = lines(f.stdout);
      assert.equal(fl[0], `/f: file, 4 bytes, mode 0640, owner 0:0, from layer ${l1}`);
      assert.match(fl[1], new RegExp(`^  ${l1}\\s+file \\(4 bytes\\)\\s+answers$`));
      assert.match(fl[2], new RegExp(`^  ${l0}\\s+file \\(5 bytes\\)\\s+hidden by a layer above$`));
      const a = await e.cli(['which', e.layers, '/d/a']);
      assert.equal(a.code, 1);
      assert.deepEqual(lines(a.stdout).map((l) => l.replace(/\s+/g, ' ').trim()), [
        '/d/a: not found',
        `${l1} whiteout whiteout`,
        `${l0} file (2 bytes) hidden by a layer above`,
        `whiteout in ${l1} hides /d/a in the layers below`,
      ]);
      const o = await e.cli(['which', e.layers, 'opq/old']);
      assert.equal(o.code, 1);
      assert.deepEqual(lines(o.stdout).map((l) => l.replace(/\s+/g, ' ').trim()), [
        '/opq/old: not found',
        `${l1} -`,
        `${l0} file (16 bytes) hidden by a layer above`,
        `opaque directory /opq in ${l1} stops the descent`,
      ]);
      const n = await e.cli(['which', e.layers, '/opq/new', '--json']);
      assert.equal(n.code, 0);
      const j = JSON.parse(n.stdout);
      assert.equal(j.answer.label, l1);
      assert.deepEqual(j.hits.map((h: { kind: string; rel: string }) => `${h.kind}:${h.rel}`), ['opaque:opq']);
      // With an upper: what a mount would show after rm.
      await mustMount(e);
      await e.sh(`rm ${e.mnt}/d/b`);
      await e.cli(['umount', e.mnt]);
      const b = await e.cli(['which', e.layers, '/d/b', '--upper', e.upper]);
      assert.equal(b.code, 1);
      assert.match(b.stdout, /whiteout in upper hides \/d\/b in the layers below/);
    } finally {
      await teardown(e);
    }
  });
}
