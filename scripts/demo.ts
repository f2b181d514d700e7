// The README's first command: the scenario in shared/seed, walked through ocimount
// on a real local registry. Every answer is read from the live mount, not assumed.
//
//   node dist/scripts/demo.js [--keep] [--dir DIR]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { miniWeb, writeImage, MINI_WEB_ANSWERS } from '../src/dev/image-builder';
import { startRegistry } from '../src/dev/registry-server';

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'ocimount.js');
const isRoot = process.getuid?.() === 0;

function say(s = ''): void {
  process.stdout.write(s + '\n');
}
function heading(s: string): void {
  say(`\n=== ${s} ===`);
}
/** Runs a command, echoing it as a user would type it, and fails loudly. */
function sh(argv: string[], opts: { quiet?: boolean } = {}): string {
  const shown = argv[0] === process.execPath ? ['ocimount', ...argv.slice(2)] : argv;
  say(`$ ${shown.join(' ')}`);
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (!opts.quiet && r.stdout) process.stdout.write(r.stdout);
  if (r.stderr.trim()) process.stdout.write(r.stderr.trimEnd().replace(/^/gm, '  ') + '\n');
  if (r.status !== 0) throw new Error(`command failed (exit ${r.status}): ${shown.join(' ')}`);
  return r.stdout;
}
function ocimount(...args: string[]): string {
  return sh([process.execPath, CLI, ...args]);
}
function ls(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}
function answer(q: string, a: string, expected: string): boolean {
  const ok = a === expected;
  say(`Q: ${q}\nA: ${a}    ${ok ? '(correct)' : `(WRONG: the scenario expects ${expected})`}`);
  return ok;
}

function mounted(target: string): boolean {
  return fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === target);
}

/** Steps 3-5 of the scenario for one back end; returns whether every answer was right. */
function mountAndExplore(cont: string, layers: string, backend: 'fuse' | 'kernel'): boolean {
  const upper = path.join(cont, 'overlayfs', 'upper');
  const work = path.join(cont, 'overlayfs', 'work');
  const rootfs = path.join(cont, 'rootfs');
  heading(`Step 3 (${backend}): mount the layers with ${backend === 'fuse' ? 'the FUSE overlay served by Node' : 'the kernel overlayfs'}`);
  sh(['mkdir', '-p', upper, work, rootfs]);
  ocimount('mount', layers, rootfs, '--upper', upper, '--work', work, ...(backend === 'kernel' ? ['--kernel'] : []));
  let ok = true;
  try {
    sh(['grep', ` ${rootfs} `, '/proc/mounts']);
    heading(`Step 4 (${backend}): explore the OverlayFS directories`);
    sh(['ls', rootfs]);
    ok = answer('What are the top-level entries of the merged view?', ls(rootfs).join(' '), MINI_WEB_ANSWERS.topLevel.join(' ')) && ok;
    sh(['cat', path.join(rootfs, 'app', 'version.txt')]);
    ok = answer('What value does app/version.txt show?', fs.readFileSync(path.join(rootfs, 'app', 'version.txt'), 'utf8').trim(), MINI_WEB_ANSWERS.version) && ok;
    if (backend === 'fuse') ocimount('which', layers, '/app/version.txt'); // which layer answered, without a mount
    sh(['ls', '-A', upper]);
    ok = answer('Is the upper directory empty?', ls(upper).length === 0 ? 'yes' : 'no', 'yes') && ok;

    heading(`Step 5 (${backend}): copy-on-write`);
    say(`$ echo "iximiuz Labs Rules!" > ${path.join(rootfs, 'hello.txt')}`);
    fs.writeFileSync(path.join(rootfs, 'hello.txt'), 'iximiuz Labs Rules!\n');
    const inLowers = ls(layers).filter((n) => /^\d+$/.test(n)).some((n) => fs.existsSync(path.join(layers, n, 'hello.txt')));
    sh(['ls', ...ls(layers).filter((n) => /^\d+$/.test(n)).map((n) => path.join(layers, n))]);
    ok = answer('Did the new file appear in any of the lower layer directories?', inLowers ? 'yes' : 'no', 'no') && ok;
    sh(['ls', '-l', upper]);
    const inUpper = fs.existsSync(path.join(upper, 'hello.txt')) && fs.readFileSync(path.join(upper, 'hello.txt'), 'utf8') === 'iximiuz Labs Rules!\n';
    ok = answer('Did the file appear in the upper directory?', inUpper ? 'yes' : 'no', 'yes') && ok;
    if (backend === 'fuse') ocimount('which', layers, '/hello.txt', '--upper', upper);
  } finally {
    ocimount('umount', rootfs);
  }
  if (mounted(rootfs)) throw new Error(`${rootfs} is still mounted`);
  return ok;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const keep = args.includes('--keep');
  const dirArg = args.indexOf('--dir');
  const base = dirArg >= 0 ? path.resolve(args[dirArg + 1]) : fs.mkdtempSync(path.join(os.tmpdir(), 'ocimount-demo-'));
  fs.mkdirSync(base, { recursive: true });
  say(`ocimount demo: the scenario of shared/seed, in ${base}`);

  heading('Setup: a real registry on loopback holding mini-web:v1');
  const fixture = path.join(base, 'fixture-layout');
  writeImage(fixture, miniWeb(), { tag: 'v1' });
  const registry = await startRegistry({ auth: 'none' });
  let allOk = true;
  try {
    const image = `${registry.host}/mini-web:v1`;
    await registry.push(fixture, 'v1', 'mini-web:v1');
    say(`registry: Debian docker-registry at http://${registry.host} (pid ${registry.pid}), pushed ${image}`);

    heading('Step 1: save the image as an OCI layout');
    const layout = path.join(base, 'mini-web');
    ocimount('pull', image, layout);
    sh(['ls', layout]);
    say(`$ cat ${layout}/index.json`);
    say(JSON.stringify(JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')), null, 2));

    heading('Step 2: extract the layers, in manifest order');
    const cont = path.join(base, 'cont-1');
    const layers = path.join(cont, 'layers');
    ocimount('unpack', `${layout}:v1`, layers);
    MINI_WEB_ANSWERS.layerFiles.forEach((want, i) => {
      sh(['ls', path.join(layers, String(i))]);
      allOk = answer(`What does layer ${i} contain?`, ls(path.join(layers, String(i))).join(' '), want.join(' ')) && allOk;
    });
    allOk = mountAndExplore(cont, layers, 'fuse') && allOk;
    if (isRoot) {
      // The kernel back end needs the overlay whiteout format and root.
      const cont2 = path.join(base, 'cont-2');
      allOk = mountAndExplore(cont2, layers, 'kernel') && allOk;
    } else {
      say('\n(not root: skipping the --kernel mount, which needs CAP_SYS_ADMIN)');
    }
  } finally {
    await registry.stop();
    if (!keep) fs.rmSync(base, { recursive: true, force: true });
    else say(`\nkept ${base}`);
  }
  heading(allOk ? 'All of the scenario\'s answers came out right' : 'Some answers were WRONG');
  process.exitCode = allOk ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
