// src/layout: init refuses foreign directories, blobs are verified before they are
// published (and resumed from disk), index.json entries follow tags, concurrent
// writers do not lose entries, and the read side resolves what the write side made.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { isOcimountError } from '../../src/errors';
import { miniWeb, writeImage } from '../../src/dev/image-builder';
import { MediaType, REF_NAME_ANNOTATION } from '../../src/image/types';
import type { Index } from '../../src/image/types';
import { initLayout, listTempBlobs, putIndexEntry, readIndex, resolveLayoutImage, writeBlob, writeBlobBytes, blobPath } from '../../src/layout';
import { makeTmp } from '../helpers/env';

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');
const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
const ref = { digest: sha(data), size: data.length };

function chunks(b: Buffer, size = 65536): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

/** A body that errors like a reset connection after n bytes. */
function cutStream(b: Buffer, n: number): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(b.subarray(0, n));
      } else {
        this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      }
    },
  });
}

test('initLayout: creates a layout skopeo/umoci accept, reopens it, refuses a non-empty foreign dir and a file', async () => {
  const base = makeTmp('layout-init');
  const dir = path.join(base, 'new', 'deep');
  assert.equal(await initLayout(dir), dir);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  assert.deepEqual(readIndex(dir).manifests, []);
  assert.ok(fs.statSync(path.join(dir, 'blobs', 'sha256')).isDirectory());
  await initLayout(dir); // idempotent
  const empty = path.join(base, 'empty');
  fs.mkdirSync(empty);
  await initLayout(empty);
  assert.ok(fs.existsSync(path.join(empty, 'index.json')));

  // Racing initialisers of one new directory all succeed (each sees the other's half-made layout).
  const raced = path.join(base, 'raced');
  await Promise.all(Array.from({ length: 6 }, () => initLayout(raced)));
  assert.deepEqual(fs.readdirSync(raced).sort(), ['blobs', 'index.json', 'oci-layout']);
  const half = path.join(base, 'half');
  fs.mkdirSync(path.join(half, 'blobs'), { recursive: true });
  await initLayout(half);

  const foreign = path.join(base, 'foreign');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
  await assert.rejects(initLayout(foreign), (e) => isOcimountError(e, 'NOT_A_LAYOUT') && /not an OCI image layout/.test(e.message));
  assert.deepEqual(fs.readdirSync(foreign), ['notes.txt']);
  const file = path.join(base, 'file');
  fs.writeFileSync(file, 'x');
  await assert.rejects(initLayout(file), (e) => isOcimountError(e, 'NOT_A_LAYOUT'));
  assert.throws(() => resolveLayoutImage(foreign), (e) => isOcimountError(e, 'NOT_A_LAYOUT'));
});

test('writeBlob: verified and published by rename; a mismatch leaves no blob and no temp file', async () => {
  const dir = await initLayout(path.join(makeTmp('layout-blob'), 'l'));
  const seen: number[] = [];
  const r = await writeBlob(dir, ref, async () => ({ stream: Readable.from(chunks(data)), offset: 0 }), { onBytes: (n) => seen.push(n) });
  assert.deepEqual(r, { skipped: false, resumed: 0 });
  assert.ok(fs.readFileSync(blobPath(dir, ref.digest)).equals(data));
  assert.equal(seen.at(-1), data.length);

  // Present and valid: not fetched again.
  let called = 0;
  const again = await writeBlob(dir, ref, async () => {
    called++;
    return { stream: Readable.from([data]), offset: 0 };
  });
  assert.equal(again.skipped, true);
  assert.equal(called, 0);

  // Present but damaged: fetched again and repaired.
  fs.writeFileSync(blobPath(dir, ref.digest), Buffer.concat([data.subarray(0, 10), Buffer.alloc(data.length - 10)]));
  assert.equal((await writeBlob(dir, ref, async () => ({ stream: Readable.from([data]), offset: 0 }))).skipped, false);
  assert.ok(fs.readFileSync(blobPath(dir, ref.digest)).equals(data));

  // Wrong bytes of the right size: DIGEST_MISMATCH; too many bytes: SIZE_MISMATCH; too few: TRUNCATED.
  const other = Buffer.from(data);
  other[1000] ^= 0xff;
  const ref2 = { digest: sha(Buffer.from('something else')), size: data.length };
  await assert.rejects(writeBlob(dir, ref2, async () => ({ stream: Readable.from([other]), offset: 0 })), (e) => isOcimountError(e, 'DIGEST_MISMATCH'));
  await assert.rejects(writeBlob(dir, { ...ref2, size: 10 }, async () => ({ stream: Readable.from([other]), offset: 0 })), (e) => isOcimountError(e, 'SIZE_MISMATCH'));
  await assert.rejects(
    writeBlob(dir, ref2, async () => ({ stream: Readable.from([other.subarray(0, 5)]), offset: 0 }), { resumes: 1 }),
    (e) => isOcimountError(e, 'TRUNCATED') && /ended after 5 of 300000 bytes/.test(e.message),
  );
  assert.equal(fs.existsSync(blobPath(dir, ref2.digest)), false);
  assert.deepEqual(listTempBlobs(dir), []);
  // A digest that could name a path outside blobs/ is refused before any I/O.
  await assert.rejects(writeBlobBytes(dir, { digest: 'sha256:../../x', size: 1 }, Buffer.from('x')), (e) => isOcimountError(e, 'UNSUPPORTED'));
});

test('writeBlob: a body cut short resumes at the bytes on disk; a source that ignores Range restarts from 0', async () => {
  const dir = await initLayout(path.join(makeTmp('layout-resume'), 'l'));
  const offsets: number[] = [];
  const r = await writeBlob(dir, ref, async (offset) => {
    offsets.push(offset);
    if (offsets.length === 1) return { stream: cutStream(data, 100_000), offset: 0 };
    return { stream: Readable.from(chunks(data.subarray(offset))), offset };
  });
  assert.equal(r.resumed, 1);
  assert.deepEqual(offsets, [0, 100_000]);
  assert.ok(fs.readFileSync(blobPath(dir, ref.digest)).equals(data));

  fs.rmSync(blobPath(dir, ref.digest));
  const offsets2: number[] = [];
  await writeBlob(dir, ref, async (offset) => {
    offsets2.push(offset);
    if (offsets2.length === 1) return { stream: cutStream(data, 50_000), offset: 0 };
    return { stream: Readable.from(chunks(data)), offset: 0 }; // Range ignored: whole body
  });
  assert.deepEqual(offsets2, [0, 50_000]);
  assert.ok(fs.readFileSync(blobPath(dir, ref.digest)).equals(data));

  // A resumed body with corrupted bytes is still caught by the whole-file digest.
  fs.rmSync(blobPath(dir, ref.digest));
  const bad = Buffer.from(data);
  bad[200_000] ^= 1;
  let n = 0;
  await assert.rejects(
    writeBlob(dir, ref, async (offset) => (n++ === 0 ? { stream: cutStream(data, 100_000), offset: 0 } : { stream: Readable.from([bad.subarray(offset)]), offset })),
    (e) => isOcimountError(e, 'DIGEST_MISMATCH'),
  );
  assert.equal(fs.existsSync(blobPath(dir, ref.digest)), false);
  assert.deepEqual(listTempBlobs(dir), []);
});

test('writeBlob: an abort removes the temp file', async () => {
  const dir = await initLayout(path.join(makeTmp('layout-abort'), 'l'));
  const ac = new AbortController();
  const stream = new Readable({ read() {} });
  stream.push(data.subarray(0, 1000));
  const p = writeBlob(dir, ref, async () => ({ stream, offset: 0 }), { signal: ac.signal });
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    while (listTempBlobs(dir).length === 0) await new Promise((r) => setTimeout(r, 5));
  } finally {
    clearInterval(keepAlive);
  }
  ac.abort();
  stream.destroy(new DOMException('aborted', 'AbortError'));
  await assert.rejects(p);
  assert.deepEqual(listTempBlobs(dir), []);
  assert.equal(fs.existsSync(blobPath(dir, ref.digest)), false);
});

test('index.json: a second tag adds an entry, the same tag replaces it, concurrent writers lose nothing; skopeo and umoci read it', async () => {
  const base = makeTmp('layout-index');
  const src = path.join(base, 'src');
  const img = writeImage(src, miniWeb(), { tag: 'v1' });
  const dir = await initLayout(path.join(base, 'l'));
  // Copy the blobs through writeBlob, as pull does.
  for (const name of fs.readdirSync(path.join(src, 'blobs', 'sha256'))) {
    const body = fs.readFileSync(path.join(src, 'blobs', 'sha256', name));
    await writeBlobBytes(dir, { digest: `sha256:${name}`, size: body.length }, body);
  }
  const desc = img.manifestDescriptor;
  await putIndexEntry(dir, desc, 'v1');
  await putIndexEntry(dir, desc, 'latest');
  await putIndexEntry(dir, desc, 'v1');
  let idx = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as Index;
  assert.deepEqual(idx.manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION]).sort(), ['latest', 'v1']);
  await putIndexEntry(dir, { ...desc, digest: sha(Buffer.from('other')) }, 'v1');
  idx = readIndex(dir);
  assert.equal(idx.manifests.length, 2);
  assert.equal(idx.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === 'v1')?.digest, sha(Buffer.from('other')));
  await putIndexEntry(dir, desc, 'v1');
  // Untagged (pulled by digest): one entry per digest.
  await putIndexEntry(dir, desc);
  await putIndexEntry(dir, desc);
  assert.equal(readIndex(dir).manifests.filter((m) => !m.annotations?.[REF_NAME_ANNOTATION]).length, 1);

  await Promise.all(Array.from({ length: 20 }, (_, i) => putIndexEntry(dir, desc, `t${i}`)));
  assert.equal(readIndex(dir).manifests.length, 23);
  assert.equal(fs.existsSync(path.join(dir, 'index.json.lock')), false);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['blobs', 'index.json', 'oci-layout']);

  const resolved = resolveLayoutImage(`${dir}:v1`);
  assert.equal(resolved.manifestDigest, desc.digest);
  assert.equal(resolved.manifest.layers.length, 3);
  assert.equal(resolved.config.rootfs.diff_ids.length, 3);
  assert.throws(() => resolveLayoutImage(`${dir}:nope`), (e) => isOcimountError(e, 'NOT_FOUND') && /it has: /.test(e.message));

  const sk = spawnSync('skopeo', ['inspect', `oci:${dir}:v1`], { encoding: 'utf8' });
  assert.equal(sk.status, 0, sk.stderr);
  assert.equal(JSON.parse(sk.stdout).Digest, desc.digest);
  const um = spawnSync('umoci', ['ls', '--layout', dir], { encoding: 'utf8' });
  assert.equal(um.status, 0, um.stderr);
  assert.ok(um.stdout.split('\n').includes('v1'), um.stdout);
  assert.equal(desc.mediaType, MediaType.OciManifest);
});

test('putIndexEntry: a stale lock of a dead process is taken over', async () => {
  const dir = await initLayout(path.join(makeTmp('layout-lock'), 'l'));
  const dead = spawnSync('true').pid!;
  fs.writeFileSync(path.join(dir, 'index.json.lock'), String(dead));
  await putIndexEntry(dir, { mediaType: MediaType.OciManifest, digest: sha(Buffer.from('a')), size: 1 }, 'x');
  assert.equal(readIndex(dir).manifests.length, 1);
  assert.equal(fs.existsSync(path.join(dir, 'index.json.lock')), false);
});
