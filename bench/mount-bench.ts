// Mount speed: the kernel overlay, Debian's fuse-overlayfs (C) and ocimount (FUSE in
// Node) on the same 3-layer stack, in one run. A script, not a test:
//   node dist/bench/mount-bench.js [--files 17500] [--big-mb 1024] [--only kernel,fuse-overlayfs,ocimount]
//                                  [--dir /var/tmp/ocimount-bench] [--rounds 3] [--rebuild] [--trace] [--profile]
// Needs root (kernel overlay, drop_caches). The stack is built once under --dir and
// reused by later runs (--rebuild makes it again). Workloads, each on every backend:
//   mount time; find (first after mount, cold after drop_caches, then warm); lstat of every path (cold, warm);
//   sequential read of the big file (cold, warm); read of every small file (cold, warm);
//   copy-up of 1,000 lower files (append a line) and create of 10,000 files, each on a fresh upper.
// Lower layers live on the disk; uppers, work dirs and mountpoints on a tmpfs (see main).
// Each figure is the best of --rounds runs (cold ones after drop_caches, writes on a fresh upper).
// Prints seconds per backend, ratios against the kernel and ocimount against fuse-overlayfs.
// --trace mounts ocimount with --trace and prints how many FUSE operations each workload cost;
// --profile runs the ocimount server under node --cpu-prof (profiles left in DIR/prof).
import { execFileSync, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { native } from '../src/native';

function argOf(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1];
}
const FILES = Number(argOf('files', '17500'));
const BIG_MB = Number(argOf('big-mb', '1024'));
const DIR = path.resolve(argOf('dir', '/var/tmp/ocimount-bench'));
const ONLY = argOf('only', 'kernel,fuse-overlayfs,ocimount').split(',');
const TRACE = process.argv.includes('--trace');
const PROFILE = process.argv.includes('--profile');
const REBUILD = process.argv.includes('--rebuild');
const ROUNDS = Number(argOf('rounds', '3'));
/** --workloads find,small: only workloads whose names start with one of these (mount always runs). */
const WANT = argOf('workloads', '').split(',').filter(Boolean);
const wanted = (w: string) => WANT.length === 0 || w === 'mount' || WANT.some((p) => w.startsWith(p));
const ROOT = path.resolve(__dirname, '..', '..');
/** The ocimount under test: a snapshot of bin/, dist/ and the native addon taken at start (see snapshot()). */
const APP = path.join(DIR, 'app');
const OCIMOUNT = path.join(APP, 'bin', 'ocimount.js');
const LAYERS = ['L0', 'L1', 'L2'].map((l) => path.join(DIR, 'stack', l)); // base first
const LOWERDIR = [...LAYERS].reverse().join(':'); // top first
const BIG = 'big/blob.bin';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// ---- the stack ---------------------------------------------------------------

/**
 * Base layer: most files in 25 x 20 directories; middle layer: new files and
 * replacements of base files; top layer: more of both, whiteouts (0/0 char
 * devices, the format all three backends read) and one opaque directory.
 */
function buildStack(): void {
  const stamp = path.join(DIR, 'stack', `.built-${FILES}-${BIG_MB}`);
  if (!REBUILD && fs.existsSync(stamp)) return;
  fs.rmSync(path.join(DIR, 'stack'), { recursive: true, force: true });
  const r = rng(42);
  const filler = crypto.randomBytes(64 * 1024).toString('base64');
  const share = [0.6, 0.25, 0.15];
  let n = 0;
  for (let li = 0; li < 3; li++) {
    const root = LAYERS[li];
    fs.mkdirSync(root, { recursive: true });
    const count = li === 2 ? FILES - n : Math.round(FILES * share[li]);
    for (let i = 0; i < count; i++, n++) {
      // Upper layers put a third of their files over names the layers below have.
      const over = li > 0 && i % 3 === 0;
      const k = over ? Math.floor(r() * Math.round(FILES * share[0])) : n;
      const dir = `d${k % 25}/s${Math.floor(k / 25) % 20}`;
      fs.mkdirSync(path.join(root, dir), { recursive: true });
      const size = Math.floor(64 + r() * r() * 16 * 1024);
      const off = Math.floor(r() * (filler.length - size));
      fs.writeFileSync(path.join(root, dir, `f${k}.txt`), filler.slice(off, off + size));
    }
  }
  // Whiteouts in the top layer: 200 base files disappear; one directory goes opaque.
  // (None inside the opaque directory: the kernel lists a whiteout there as an entry.)
  const base = Math.round(FILES * share[0]);
  for (let i = 0; i < 200; i++) {
    const k = (i * 37) % base;
    const rel = `d${k % 25}/s${Math.floor(k / 25) % 20}`;
    if (rel === 'd3/s7') continue;
    const dir = path.join(LAYERS[2], rel);
    fs.mkdirSync(dir, { recursive: true });
    try {
      native().mknod(path.join(dir, `f${k}.txt`), 0o020000 | 0o600, 0);
    } catch {
      // name already used by the top layer's own file: not a whiteout then
    }
  }
  fs.mkdirSync(path.join(LAYERS[2], 'd3/s7'), { recursive: true });
  native().lsetxattr(path.join(LAYERS[2], 'd3/s7'), 'trusted.overlay.opaque', Buffer.from('y'), 0);
  // The big file lives in the base layer (a cold read crosses the whole stack).
  fs.mkdirSync(path.join(LAYERS[0], 'big'), { recursive: true });
  const fd = fs.openSync(path.join(LAYERS[0], BIG), 'w');
  const chunk = crypto.randomBytes(1 << 20);
  for (let i = 0; i < BIG_MB; i++) fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  execFileSync('sync');
  fs.writeFileSync(stamp, '');
}

// ---- backends ------------------------------------------------------------------

/**
 * Copies the built ocimount (bin, dist, native addon) aside, so that a rebuild of the
 * work tree during the run (npm run build deletes the addon first) cannot break it.
 */
function snapshot(): void {
  fs.rmSync(APP, { recursive: true, force: true });
  fs.mkdirSync(path.join(APP, 'native', 'build'), { recursive: true });
  for (const d of ['bin', 'dist', 'package.json']) fs.cpSync(path.join(ROOT, d), path.join(APP, d), { recursive: true });
  fs.cpSync(path.join(ROOT, 'native', 'build', 'Release'), path.join(APP, 'native', 'build', 'Release'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(APP, 'node_modules'));
}

interface Backend {
  name: string;
  mount(mnt: string, upper: string, work: string, tag: string): void;
  unmount(mnt: string): void;
}

const traces: Record<string, string> = {};

const ALL_BACKENDS: Backend[] = [
  {
    name: 'kernel',
    mount: (mnt, upper, work) =>
      void execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${LOWERDIR},upperdir=${upper},workdir=${work}`, mnt]),
    unmount: (mnt) => void execFileSync('umount', [mnt]),
  },
  {
    name: 'fuse-overlayfs',
    mount: (mnt, upper, work) => void execFileSync('fuse-overlayfs', ['-o', `lowerdir=${LOWERDIR},upperdir=${upper},workdir=${work}`, mnt]),
    unmount: (mnt) => void execFileSync('fusermount3', ['-u', mnt]),
  },
  {
    name: 'ocimount',
    mount: (mnt, upper, work, tag) => {
      const args = [OCIMOUNT, 'mount', '--lowerdir', LOWERDIR, mnt, '--upper', upper, '--work', work];
      if (TRACE) {
        traces[tag] = path.join(DIR, `trace-${tag}.log`);
        fs.rmSync(traces[tag], { force: true });
        args.push(`--trace=${traces[tag]}`);
      }
      const env = { ...process.env };
      if (PROFILE) {
        fs.mkdirSync(path.join(DIR, 'prof'), { recursive: true });
        env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${path.join(DIR, 'prof')}`;
      }
      execFileSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    },
    unmount: (mnt) => void execFileSync(process.execPath, [OCIMOUNT, 'umount', mnt], { stdio: ['ignore', 'ignore', 'inherit'] }),
  },
];
const BACKENDS = ALL_BACKENDS.filter((b) => ONLY.includes(b.name));

const mounted = new Map<string, Backend>();

function fresh(name: string): { mnt: string; upper: string; work: string } {
  const base = path.join(DIR, 'run', name);
  fs.rmSync(base, { recursive: true, force: true });
  for (const d of ['mnt', 'upper', 'work']) fs.mkdirSync(path.join(base, d), { recursive: true });
  return { mnt: path.join(base, 'mnt'), upper: path.join(base, 'upper'), work: path.join(base, 'work') };
}

function mountFresh(b: Backend, tag: string): string {
  const d = fresh(`${b.name}-${tag}`);
  b.mount(d.mnt, d.upper, d.work, tag);
  mounted.set(d.mnt, b);
  return d.mnt;
}

function unmount(mnt: string): void {
  const b = mounted.get(mnt);
  if (!b) return;
  b.unmount(mnt);
  mounted.delete(mnt);
}

// ---- workloads ----------------------------------------------------------------

function dropCaches(): void {
  execFileSync('sync');
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
}

function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function findAll(mnt: string): void {
  const r = spawnSync('find', [mnt], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`find ${mnt} failed`);
}

function statAll(mnt: string, rels: string[]): void {
  for (const rel of rels) fs.lstatSync(`${mnt}/${rel}`);
}

function readBig(mnt: string): void {
  const fd = fs.openSync(`${mnt}/${BIG}`, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let pos = 0;
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    pos += n;
  }
  fs.closeSync(fd);
  if (pos !== BIG_MB << 20) throw new Error(`big file read ${pos} bytes`);
}

function readSmall(mnt: string, files: string[]): void {
  for (const rel of files) fs.readFileSync(`${mnt}/${rel}`);
}

function copyUp(mnt: string, files: string[]): void {
  for (const rel of files) fs.appendFileSync(`${mnt}/${rel}`, 'appended\n');
}

function create(mnt: string, dirs: string[]): void {
  const line = 'x'.repeat(100);
  for (let i = 0; i < 10_000; i++) fs.writeFileSync(`${mnt}/${dirs[i % dirs.length]}/new${i}.txt`, line);
}

/** Every path of the merged view, relative, from a walk of a mount. */
function walk(mnt: string): { all: string[]; files: string[]; dirs: string[] } {
  const all: string[] = [];
  const files: string[] = [];
  const dirs: string[] = [];
  const go = (rel: string) => {
    for (const e of fs.readdirSync(rel ? `${mnt}/${rel}` : mnt, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      all.push(r);
      if (e.isDirectory()) {
        dirs.push(r);
        go(r);
      } else if (e.isFile() && r !== BIG) files.push(r);
    }
  };
  go('');
  return { all, files, dirs };
}

// ---- the run --------------------------------------------------------------------

const WORKLOADS = [
  'mount',
  'find first',
  'find cold',
  'find warm',
  'stat-all cold',
  'stat-all warm',
  'big read cold',
  'big read warm',
  'small read cold',
  'small read warm',
  'copy-up 1k',
  'create 10k',
] as const;
type Workload = (typeof WORKLOADS)[number];

function opCounts(tag: string): string {
  const f = traces[tag];
  if (!f || !fs.existsSync(f)) return '';
  const counts = new Map<string, number>();
  for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
    const op = line.split(' ')[1];
    if (op) counts.set(op, (counts.get(op) ?? 0) + 1);
  }
  fs.writeFileSync(f, '');
  return [...counts].map(([k, v]) => `${k}=${v}`).join(' ');
}

function main(): void {
  if (process.getuid!() !== 0) throw new Error('mount-bench needs root (kernel overlay, drop_caches)');
  process.stderr.write(`building the stack in ${DIR}/stack (${FILES} files, ${BIG_MB} MiB big file)...\n`);
  buildStack();
  snapshot();
  const results = new Map<string, Map<Workload, number>>();
  let view: ReturnType<typeof walk> | undefined;
  // Uppers, work dirs and mountpoints on a tmpfs: ext4's inode allocator slows down
  // after many recent deletions (each round deletes the last upper), which would
  // penalise whichever backend runs later; tmpfs measures the overlays, not ext4.
  const run = path.join(DIR, 'run');
  fs.mkdirSync(run, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4g,mode=0755', 'ocimount-bench', run]);
  try {
    for (const b of BACKENDS) {
      const res = new Map<Workload, number>();
      results.set(b.name, res);
      process.stderr.write(`${b.name}:`);
      // Best of ROUNDS, so other load on the machine disturbs less; cold rounds drop caches first.
      const measure = (w: Workload, fn: () => void, cold = false) => {
        if (!wanted(w)) return;
        let best = Infinity;
        for (let i = 0; i < ROUNDS; i++) {
          if (cold) dropCaches();
          best = Math.min(best, time(fn));
        }
        note(w, best);
      };
      const note = (w: Workload, s: number) => {
        res.set(w, Math.min(s, res.get(w) ?? Infinity));
        const ops = b.name === 'ocimount' && TRACE ? ` [${opCounts('read')}]` : '';
        process.stderr.write(` ${w}=${s.toFixed(3)}${ops}`);
      };
      // Read workloads share one mount (nothing written).
      dropCaches();
      const d = fresh(`${b.name}-read`);
      note('mount', time(() => b.mount(d.mnt, d.upper, d.work, 'read')));
      mounted.set(d.mnt, b);
      const mnt = d.mnt;
      // The first walk after mount also builds ocimount's index of the lower layers;
      // later cold rounds find that index in the server's memory (drop_caches cannot drop it).
      if (wanted('find')) {
        dropCaches();
        note('find first', time(() => findAll(mnt)));
      }
      measure('find cold', () => findAll(mnt), true);
      measure('find warm', () => findAll(mnt));
      view ??= walk(mnt);
      const v = view;
      if (TRACE) opCounts('read');
      measure('stat-all cold', () => statAll(mnt, v.all), true);
      measure('stat-all warm', () => statAll(mnt, v.all));
      measure('big read cold', () => readBig(mnt), true);
      measure('big read warm', () => readBig(mnt));
      measure('small read cold', () => readSmall(mnt, v.files), true);
      measure('small read warm', () => readSmall(mnt, v.files));
      unmount(mnt);
      // Write workloads: a fresh upper each round.
      const cu = v.files.filter((_, i) => i % Math.floor(v.files.length / 1000) === 0).slice(0, 1000);
      for (let i = 0; i < ROUNDS && (wanted('copy-up') || wanted('create')); i++) {
        let m2 = '';
        note('mount', time(() => (m2 = mountFresh(b, 'copyup'))));
        if (wanted('copy-up')) note('copy-up 1k', time(() => copyUp(m2, cu)));
        unmount(m2);
        const m3 = mountFresh(b, 'create');
        if (wanted('create')) note('create 10k', time(() => create(m3, v.dirs)));
        unmount(m3);
      }
      process.stderr.write('\n');
    }
  } finally {
    for (const m of [...mounted.keys()]) {
      try {
        unmount(m);
      } catch (err) {
        process.stderr.write(`unmounting ${m}: ${(err as Error).message}; detaching it\n`);
        spawnSync('umount', ['-l', m]);
      }
    }
    if (spawnSync('umount', [run]).status !== 0) spawnSync('umount', ['-l', run]);
  }
  printTable(results, view);
}

function printTable(results: Map<string, Map<Workload, number>>, view: ReturnType<typeof walk> | undefined): void {
  const k = results.get('kernel');
  const f = results.get('fuse-overlayfs');
  const o = results.get('ocimount');
  const fmtS = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(3));
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? '-' : `${(a / b).toFixed(2)}x`);
  const head = ['workload', 'kernel s', 'fuse-overlayfs s', 'ocimount s', 'fuse-overlayfs/kernel', 'ocimount/kernel', 'ocimount/fuse-overlayfs'];
  const rows = WORKLOADS.map((w) => [
    w,
    fmtS(k?.get(w)),
    fmtS(f?.get(w)),
    fmtS(o?.get(w)),
    ratio(f?.get(w), k?.get(w)),
    ratio(o?.get(w), k?.get(w)),
    ratio(o?.get(w), f?.get(w)),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const out = [line(head), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 1) + '-' : '-'.repeat(w + 1) + ':')).join('|')}|`, ...rows.map(line)];
  const entries = view ? `${view.all.length} entries (${view.files.length} small files, ${view.dirs.length} dirs)` : '';
  process.stdout.write(`\nstack: 3 layers, ${entries}, big file ${BIG_MB} MiB; ${new Date().toISOString()}\n${out.join('\n')}\n`);
}

main();
