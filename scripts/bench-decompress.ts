// Why node:zlib and zstd-napi: decompression throughput measured in one run.
//   node dist/scripts/bench-decompress.js [TARFILE]
// Without TARFILE it tars /usr/lib/x86_64-linux-gnu and /usr/share/doc (first 120 MB),
// a realistic mix of binaries and text. Reports the best of three runs.
import { execSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import * as pako from 'pako';
import * as fzstd from 'fzstd';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const zstd = require('zstd-napi') as { compress(b: Buffer): Buffer; DecompressStream: new () => NodeJS.ReadWriteStream };

const CHUNK = 64 * 1024;
function chunks(b: Buffer): Readable {
  return Readable.from((function* () {
    for (let o = 0; o < b.length; o += CHUNK) yield b.subarray(o, o + CHUNK);
  })());
}
/** Hashes what it gets on the JS thread, as unpack does (diff_id), so off-thread decompression shows. */
function hashSink(): Writable {
  const h = createHash('sha256');
  return new Writable({ write(c: Buffer, _e, cb) { h.update(c); cb(); } });
}
async function best(name: string, fn: () => Promise<void>): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < 3; i++) {
    const s = process.hrtime.bigint();
    await fn();
    min = Math.min(min, Number(process.hrtime.bigint() - s) / 1e6);
  }
  console.log(`${name.padEnd(36)} ${min.toFixed(0).padStart(6)} ms`);
  return min;
}

async function main(): Promise<void> {
  const raw = process.argv[2]
    ? fs.readFileSync(process.argv[2])
    : execSync('tar -cf - /usr/lib/x86_64-linux-gnu /usr/share/doc 2>/dev/null | head -c 120000000', { maxBuffer: 256 << 20, shell: '/bin/bash' });
  const gz = zlib.gzipSync(raw);
  const zs = zstd.compress(raw);
  console.log(`input: ${(raw.length / 1e6).toFixed(1)} MB tar, ${(gz.length / 1e6).toFixed(1)} MB gzip, ${(zs.length / 1e6).toFixed(1)} MB zstd`);
  const a = await best('gunzip: node:zlib stream + sha256', () => pipeline(chunks(gz), zlib.createGunzip(), hashSink()));
  const b = await best('gunzip: pako Inflate + sha256', async () => {
    const sink = createHash('sha256');
    const inf = new pako.Inflate();
    inf.onData = (c: Uint8Array) => { sink.update(c); };
    for (let o = 0; o < gz.length; o += CHUNK) inf.push(gz.subarray(o, o + CHUNK), false);
    inf.push(new Uint8Array(0), true);
  });
  const c = await best('unzstd: zstd-napi stream + sha256', () => pipeline(chunks(zs), new zstd.DecompressStream(), hashSink()));
  const d = await best('unzstd: fzstd (pure JS) + sha256', async () => {
    const sink = createHash('sha256');
    const s = new fzstd.Decompress((c: Uint8Array) => { sink.update(c); });
    for (let o = 0; o < zs.length; o += CHUNK) s.push(zs.subarray(o, o + CHUNK), o + CHUNK >= zs.length);
  });
  console.log(`pako / node:zlib = ${(b / a).toFixed(2)}x   fzstd / zstd-napi = ${(d / c).toFixed(2)}x`);
}
main().catch((e) => { console.error(e); process.exitCode = 1; });
