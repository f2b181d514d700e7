// A realistic image for integration tests: a Debian minbase root filesystem made by
// debootstrap (cached between runs, it takes a while), split into 5 layers the way real
// images are built, the last one deleting files (whiteouts) and replacing a directory
// (opaque). Falls back to a synthetic tree of similar size when debootstrap cannot run.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { writeImage } from './image-builder';
import type { LayerSpec, WrittenImage } from './image-builder';
import type { TarEntry } from './tar';

const execFileP = promisify(execFile);

/** Bump when the cached tar's content recipe changes. */
const CACHE_VERSION = 1;
const MAX_AGE_MS = 30 * 24 * 3600 * 1000;
const SUITE = 'bookworm';

export interface RootfsTar {
  /** A tar of the whole root filesystem (numeric owners, xattrs). */
  tar: string;
  source: 'debootstrap' | 'synthetic';
  /** Why debootstrap was not used, when it was not. */
  fallbackReason?: string;
  cached: boolean;
}

export function defaultCacheDir(): string {
  if (process.env.OCIMOUNT_CACHE_DIR) return process.env.OCIMOUNT_CACHE_DIR;
  return process.geteuid?.() === 0 ? '/var/cache/ocimount-test' : path.join(os.homedir(), '.cache', 'ocimount-test');
}

/** The Debian mirror apt is configured with here (deb822 or one-line sources), else deb.debian.org. */
export function configuredDebianMirror(): string {
  const files: string[] = ['/etc/apt/sources.list'];
  try {
    for (const f of fs.readdirSync('/etc/apt/sources.list.d')) files.push(path.join('/etc/apt/sources.list.d', f));
  } catch {
    // no directory
  }
  for (const f of files) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    // One-line format: deb [opts] URI SUITE components
    for (const line of text.split('\n')) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
      if (m && m[2] === SUITE) return m[1];
    }
    // deb822 stanzas: URIs + Suites containing the plain suite.
    for (const stanza of text.split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(.+)$/m.exec(stanza)?.[1].trim().split(/\s+/);
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1].trim().split(/\s+/);
      const types = /^Types:\s*(.+)$/m.exec(stanza)?.[1] ?? 'deb';
      if (uris && suites?.includes(SUITE) && /\bdeb\b/.test(types)) return uris[0];
    }
  }
  return 'http://deb.debian.org/debian';
}

async function debootstrapVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await execFileP('dpkg-query', ['-W', '-f=${Version}', 'debootstrap']);
    return stdout.trim() || undefined;
  } catch {
    return fs.existsSync('/usr/sbin/debootstrap') ? 'unknown' : undefined;
  }
}

async function tarDir(dir: string, out: string): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}`;
  await execFileP('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--sort=name', '-C', dir, '-cf', tmp, '.']);
  fs.renameSync(tmp, out);
}

/**
 * The Debian minbase rootfs as a tar, from the cache when fresh (keyed by suite, arch,
 * debootstrap version and recipe version; rebuilt after 30 days). Needs root for debootstrap.
 */
export async function debianRootfsTar(opts: { cacheDir?: string; log?: (msg: string) => void } = {}): Promise<RootfsTar> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const log = opts.log ?? (() => undefined);
  fs.mkdirSync(cacheDir, { recursive: true });
  const version = await debootstrapVersion();
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  let reason: string | undefined;
  if (!version) reason = 'debootstrap is not installed';
  else if (process.geteuid?.() !== 0) reason = 'debootstrap needs root';
  if (!reason) {
    const key = `debian-minbase-${SUITE}-${arch}-debootstrap${version!.replace(/[^A-Za-z0-9.+-]/g, '_')}-v${CACHE_VERSION}.tar`;
    const file = path.join(cacheDir, key);
    try {
      if (Date.now() - fs.statSync(file).mtimeMs < MAX_AGE_MS) return { tar: file, source: 'debootstrap', cached: true };
    } catch {
      // not cached yet
    }
    const work = fs.mkdtempSync(path.join(cacheDir, 'debootstrap-'));
    const root = path.join(work, 'rootfs');
    try {
      const mirror = configuredDebianMirror();
      log(`debootstrap --variant=minbase ${SUITE} (${mirror}); cached as ${file}`);
      await execFileP('debootstrap', ['--variant=minbase', SUITE, root, mirror], { maxBuffer: 64 * 1024 * 1024 });
      // What `apt-get clean` removes: downloaded .debs are not part of an image.
      for (const f of fs.readdirSync(path.join(root, 'var/cache/apt/archives'))) {
        if (f.endsWith('.deb')) fs.rmSync(path.join(root, 'var/cache/apt/archives', f));
      }
      await tarDir(root, file);
      return { tar: file, source: 'debootstrap', cached: false };
    } catch (err) {
      reason = `debootstrap failed: ${(err as Error).message.split('\n').slice(-3).join(' ').slice(0, 400)}`;
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  return { ...(await syntheticRootfsTar(cacheDir)), fallbackReason: reason };
}

/** ~5,000 files, ~60 MB in a Debian-like tree: no programs, so nothing to chroot into. */
async function syntheticRootfsTar(cacheDir: string): Promise<RootfsTar> {
  const file = path.join(cacheDir, `synthetic-rootfs-v${CACHE_VERSION}.tar`);
  if (fs.existsSync(file)) return { tar: file, source: 'synthetic', cached: true };
  const work = fs.mkdtempSync(path.join(cacheDir, 'synthetic-'));
  try {
    let seed = 1;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const d of ['bin', 'etc', 'home', 'root', 'tmp', 'usr/bin', 'usr/lib', 'usr/share/doc', 'var/log', 'var/lib/dpkg']) fs.mkdirSync(path.join(work, d), { recursive: true });
    fs.writeFileSync(path.join(work, 'etc/os-release'), 'PRETTY_NAME="Synthetic Debian-like rootfs"\nID=synthetic\n');
    fs.writeFileSync(path.join(work, 'etc/motd'), 'synthetic\n');
    fs.writeFileSync(path.join(work, 'etc/issue.net'), 'synthetic\n');
    fs.writeFileSync(path.join(work, 'var/log/bootstrap.log'), 'synthetic\n');
    const areas = ['usr/bin', 'usr/lib', 'usr/share/doc', 'usr/share/common-licenses', 'var/lib/dpkg', 'etc'];
    for (let i = 0; i < 5000; i++) {
      const dir = path.join(work, areas[i % areas.length], `pkg${i % 90}`);
      fs.mkdirSync(dir, { recursive: true });
      const size = Math.floor(rand() * rand() * 48_000);
      fs.writeFileSync(path.join(dir, `f${i}`), Buffer.alloc(size, i % 251));
    }
    await tarDir(work, file);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { tar: file, source: 'synthetic', cached: false };
}

/** What the modification layer did, so tests can check it on the mounted view. */
export interface RootfsImageFacts {
  source: RootfsTar['source'];
  fallbackReason?: string;
  /** Paths (absolute, in the image) deleted by whiteouts in the top layer. */
  deleted: string[];
  /** The directory the top layer made opaque, and the only entry left in it. */
  opaqueDir: string;
  opaqueKeeps: string;
  /** A file the top layer adds, with its content. */
  added: { path: string; content: string };
}

export interface BuiltRootfsImage {
  image: WrittenImage;
  facts: RootfsImageFacts;
}

async function tarPaths(staging: string, parents: string[], paths: string[], excludes: string[] = []): Promise<Buffer> {
  const args = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--sort=name', '-C', staging, '-cf', '-'];
  for (const e of excludes) args.push(`--exclude=${e}`);
  args.push('--no-recursion', ...parents, '--recursion', ...paths);
  const { stdout } = await execFileP('tar', args, { encoding: 'buffer', maxBuffer: 1024 * 1024 * 1024 });
  return stdout;
}

function dirEntry(staging: string, rel: string): TarEntry {
  const st = fs.lstatSync(path.join(staging, rel));
  return { type: 'dir', path: rel + '/', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
}

/**
 * Writes the Debian image into layoutDir (tag `tag`): 5 layers, base first:
 * 0 everything but usr/share, etc and var; 1 usr/share; 2 etc; 3 var; 4 changes
 * (whiteouts for a few files and a whole directory, usr/share/doc made opaque, a new file).
 */
export async function buildRootfsImage(layoutDir: string, opts: { tag?: string; cacheDir?: string; log?: (m: string) => void } = {}): Promise<BuiltRootfsImage> {
  const rootfs = await debianRootfsTar(opts);
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'ocimount-rootfs-'));
  try {
    await execFileP('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', staging, '-xf', rootfs.tar]);
    const top = fs.readdirSync(staging).filter((n) => !['etc', 'var', 'usr'].includes(n)).map((n) => `./${n}`);
    const layers: LayerSpec[] = [
      { tar: await tarPaths(staging, ['.'], ['./usr', ...top], ['./usr/share']), compression: 'gzip' },
      { tar: await tarPaths(staging, ['./usr'], ['./usr/share']), compression: 'zstd' },
      { tar: await tarPaths(staging, [], ['./etc']), compression: 'gzip' },
      { tar: await tarPaths(staging, [], ['./var']), compression: 'zstd' },
    ];
    const candidates = ['etc/motd', 'etc/issue.net', 'var/log/bootstrap.log', 'usr/share/common-licenses'];
    const deleted = candidates.filter((p) => fs.existsSync(path.join(staging, p)));
    const opaqueDir = 'usr/share/doc';
    const opaqueKeeps = 'README.ocimount';
    const added = { path: '/etc/ocimount-release', content: 'built by ocimount tests from a debootstrap minbase\n' };
    const parents = new Set<string>();
    for (const p of [...deleted, opaqueDir + '/x', added.path.slice(1)]) {
      const parts = p.split('/').slice(0, -1);
      for (let i = 1; i <= parts.length; i++) parents.add(parts.slice(0, i).join('/'));
    }
    const entries: TarEntry[] = [];
    for (const d of [...parents].sort()) {
      if (!fs.existsSync(path.join(staging, d))) fs.mkdirSync(path.join(staging, d), { recursive: true });
      entries.push(dirEntry(staging, d));
      if (d === opaqueDir) {
        entries.push({ type: 'file', path: `${d}/.wh..wh..opq`, content: '' });
        entries.push({ type: 'file', path: `${d}/${opaqueKeeps}`, content: 'usr/share/doc was replaced by an opaque directory in the top layer\n', mode: 0o644 });
      }
      for (const p of deleted) if (path.posix.dirname(p) === d) entries.push({ type: 'file', path: `${d}/.wh.${path.posix.basename(p)}`, content: '' });
    }
    entries.push({ type: 'file', path: added.path.slice(1), content: added.content, mode: 0o644 });
    layers.push({ entries, compression: 'gzip' });
    const image = writeImage(
      layoutDir,
      {
        layers,
        config: {
          Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
          Cmd: ['/bin/bash'],
          Labels: { 'org.opencontainers.image.title': `debian ${SUITE} minbase (${rootfs.source})` },
        },
      },
      { tag: opts.tag ?? 'latest' },
    );
    return {
      image,
      facts: { source: rootfs.source, fallbackReason: rootfs.fallbackReason, deleted: deleted.map((p) => '/' + p), opaqueDir: '/' + opaqueDir, opaqueKeeps, added },
    };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}
