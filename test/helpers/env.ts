// Shared test plumbing: temp dirs under the suite's tmp root, running the CLI
// (optionally as an unprivileged user through setpriv), and cleaning up mounts.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(ROOT, 'bin', 'ocimount.js');
export const isRoot = process.getuid?.() === 0;

/** An unprivileged uid/gid with no passwd entry needed (setpriv takes numbers). */
export const UNPRIV_UID = Number(process.env.OCIMOUNT_TEST_UID ?? 4242);
export const UNPRIV_GID = Number(process.env.OCIMOUNT_TEST_GID ?? 4242);

const tmpRoot = process.env.OCIMOUNT_TEST_TMP ?? os.tmpdir();

/** A fresh directory, world-traversable so an unprivileged user can reach children it owns. */
export function makeTmp(prefix = 't'): string {
  const d = fs.mkdtempSync(path.join(tmpRoot, `${prefix}-`));
  fs.chmodSync(d, 0o755);
  return d;
}

/** A fresh directory owned by the unprivileged test user. */
export function makeUserTmp(prefix = 'u'): string {
  const d = makeTmp(prefix);
  fs.chownSync(d, UNPRIV_UID, UNPRIV_GID);
  return d;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Run as the unprivileged test user (setpriv, no capabilities, no groups). */
  unprivileged?: boolean;
  input?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
}

/** Wraps argv so it runs as the unprivileged test user. */
export function asUser(argv: string[]): string[] {
  return ['setpriv', `--reuid=${UNPRIV_UID}`, `--regid=${UNPRIV_GID}`, '--clear-groups', '--inh-caps=-all', '--', ...argv];
}

/** Runs any command and collects its output. */
export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = opts.unprivileged ? asUser(argv) : argv;
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, ...(opts.unprivileged ? { HOME: '/nonexistent' } : {}), ...opts.env };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    const child = spawn(full[0], full.slice(1), { cwd: opts.cwd, env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // A child that exits without reading stdin closes the pipe: EPIPE there is not a failure.
    child.stdin.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs the ocimount CLI (built JS) with node. */
export function ocimount(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run([process.execPath, CLI, ...args], opts);
}

/** Mount points currently listed in /proc/mounts under a directory. */
export function mountsUnder(dir: string): string[] {
  const lines = fs.readFileSync('/proc/mounts', 'utf8').split('\n');
  return lines
    .map((l) => l.split(' ')[1])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + '/')))
    .map((m) => m.replace(/\\040/g, ' '));
}

/** Unmounts everything under dir (deepest first). For test teardown: never throws. */
export function unmountAll(dir: string): void {
  for (const m of mountsUnder(dir).sort().reverse()) {
    if (spawnSync('fusermount3', ['-u', m]).status === 0) continue;
    if (spawnSync('umount', [m]).status === 0) continue;
    spawnSync('umount', ['-l', m]);
  }
}
