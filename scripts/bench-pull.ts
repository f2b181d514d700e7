// Pull speed: `ocimount pull` vs `skopeo copy docker://… oci:…` from the same local
// registry (Debian's docker-registry on 127.0.0.1), in one run.
//   node dist/scripts/bench-pull.js [--mb 150] [--layers 5] [--rounds 3] [--keep]
// The image is --mb MB of gzip blobs in --layers layers: most layers hold random
// (incompressible) files, the rest text-like data that gzip shrinks. Each round
// runs both tools on fresh directories, alternating which goes first; the best
// time of each over --rounds is kept. Both verify digests; both write an OCI layout.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startRegistry } from '../src/dev/registry-server';
import { writeStreamedImage } from '../src/dev/stream-image';
import type { TarEntry } from '../src/dev/tar';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
}

const MB = arg('mb', 150);
const LAYERS = arg('layers', 5);
const ROUNDS = arg('rounds', 3);
const keep = process.argv.includes('--keep');
const root = path.resolve(__dirname, '..', '..');

const WORDS = 'the quick brown fox jumps over lazy dog lorem ipsum dolor sit amet config value int main return void static const'.split(' ');

/** Random 1 MB files: gzip cannot shrink them, so the blob is about `bytes`. */
function* randomFiles(layer: number, bytes: number): Generator<TarEntry> {
  yield { type: 'dir', path: `r${layer}/`, mode: 0o755 };
  for (let n = 0, left = bytes; left > 0; n++, left -= 1 << 20) yield { type: 'file', path: `r${layer}/f${n}.bin`, content: randomBytes(Math.min(left, 1 << 20)), mode: 0o644 };
}

/** Text-like files: about 4:1 under gzip, so `bytes` of blob needs ~4x the data. */
function* textFiles(layer: number, bytes: number): Generator<TarEntry> {
  yield { type: 'dir', path: `t${layer}/`, mode: 0o755 };
  let seed = layer + 1;
  const rnd = (): number => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  for (let n = 0, left = bytes * 4; left > 0; n++) {
    const parts: string[] = [];
    let len = 0;
    while (len < 64 * 1024) {
      const w = WORDS[Math.floor(rnd() * WORDS.length)] + (rnd() < 0.1 ? String(Math.floor(rnd() * 1e6)) : '');
      parts.push(w);
      len += w.length + 1;
    }
    left -= len;
    yield { type: 'file', path: `t${layer}/f${n}.txt`, content: parts.join(' '), mode: 0o644 };
  }
}

/** Wall and CPU (user + sys) seconds of one run, from GNU time. CPU time is the steadier
 *  number on a busy VM; wall time is what a user waits. */
function timed(argv: string[], work: string): { wall: number; cpu: number } {
  const out = path.join(work, 'time.txt');
  execFileSync('/usr/bin/time', ['-f', '%e %U %S', '-o', out, ...argv], { stdio: ['ignore', 'ignore', 'inherit'] });
  const [wall, user, sys] = fs.readFileSync(out, 'utf8').trim().split(/\s+/).slice(-3).map(Number);
  return { wall, cpu: user + sys };
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-pull-'));
  const layout = path.join(work, 'src');
  const per = Math.ceil((MB * 1e6) / LAYERS);
  const textLayers = Math.max(1, Math.floor(LAYERS / 3));
  console.log(`building a ~${MB} MB image (${LAYERS} gzip layers: ${LAYERS - textLayers} random, ${textLayers} text) in ${work} ...`);
  const img = await writeStreamedImage(
    layout,
    Array.from({ length: LAYERS }, (_, i) => ({ entries: i < LAYERS - textLayers ? randomFiles(i, per) : textFiles(i, per), compression: 'gzip' as const, level: 1 })),
    { tag: 'bench' },
  );
  const blobMb = img.manifest.layers.reduce((s, l) => s + l.size, 0) / 1e6;
  console.log(`image: ${img.manifest.layers.map((l) => (l.size / 1e6).toFixed(1)).join(' + ')} = ${blobMb.toFixed(1)} MB of blobs`);

  const reg = await startRegistry({ parentDir: work });
  try {
    await reg.push(layout, 'bench', 'bench/img:v1');
    const ref = `${reg.host}/bench/img:v1`;
    const runs: [string, (d: string) => string[]][] = [
      ['ocimount pull', (d) => [process.execPath, path.join(root, 'bin/ocimount.js'), 'pull', '-q', ref, d]],
      ['skopeo copy', (d) => ['skopeo', 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${d}:v1`]],
    ];
    const best = runs.map(() => ({ wall: Infinity, cpu: Infinity }));
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const i of order) {
        const d = path.join(work, `out${i}`);
        fs.rmSync(d, { recursive: true, force: true });
        execFileSync('sync');
        const t = timed(runs[i][1](d), work);
        console.log(`  round ${round + 1}: ${runs[i][0].padEnd(14)} ${t.wall.toFixed(2)} s wall, ${t.cpu.toFixed(2)} s CPU`);
        best[i] = { wall: Math.min(best[i].wall, t.wall), cpu: Math.min(best[i].cpu, t.cpu) };
      }
    }
    // Both made the same image.
    const digest = (d: string): string => JSON.parse(execFileSync('skopeo', ['inspect', `oci:${d}:v1`], { encoding: 'utf8' })).Digest;
    if (digest(path.join(work, 'out0')) !== digest(path.join(work, 'out1'))) throw new Error('the two layouts hold different manifests');
    console.log(`\ntool            best of ${ROUNDS}: wall    MB/s    CPU (user+sys)`);
    runs.forEach(([name], i) => console.log(`${name.padEnd(15)} ${best[i].wall.toFixed(2).padStart(7)} s  ${(blobMb / best[i].wall).toFixed(0).padStart(5)}  ${best[i].cpu.toFixed(2).padStart(7)} s`));
    console.log(`\nocimount pull / skopeo copy = ${(best[0].wall / best[1].wall).toFixed(2)}x wall, ${(best[0].cpu / best[1].cpu).toFixed(2)}x CPU (goal <= 1.0)`);
  } finally {
    await reg.stop();
    if (!keep) fs.rmSync(work, { recursive: true, force: true });
    else console.log(`kept ${work}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
