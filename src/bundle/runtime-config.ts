// OCI runtime-spec config.json from an image config: what makes DIR a runtime bundle
// (runc run -b DIR). Defaults follow `runc spec`; process fields follow the image-spec's
// conversion rules (Entrypoint + Cmd, Env, WorkingDir, User).
import type { ImageConfig } from '../image/types';
import { resolveUser } from './user';

export const RUNTIME_SPEC_VERSION = '1.0.2';
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RuntimeMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface RuntimeConfig {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[]; umask?: number };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[] };
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: RuntimeMount[];
  annotations?: Record<string, string>;
  linux: {
    resources: { devices: { allow: boolean; access: string }[] };
    namespaces: { type: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
  };
}

export interface RuntimeConfigOptions {
  /** root.path as written in config.json, relative to the bundle (default "rootfs"). */
  rootfs?: string;
  /** Host path of the root filesystem, to resolve user and group names (its /etc/passwd, /etc/group). */
  rootfsDir?: string;
  /** Default "ocimount". */
  hostname?: string;
  terminal?: boolean;
  readonlyRoot?: boolean;
  annotations?: Record<string, string>;
}

const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

/** The mounts `runc spec` generates. */
export function defaultMounts(): RuntimeMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

/** Image Env with PATH guaranteed (the image-spec leaves a missing PATH to the runtime). */
function processEnv(env: string[] | undefined, terminal: boolean): string[] {
  const out = [...(env ?? [])];
  if (!out.some((e) => e.startsWith('PATH='))) out.unshift(DEFAULT_PATH);
  if (terminal && !out.some((e) => e.startsWith('TERM='))) out.push('TERM=xterm');
  return out;
}

/**
 * config.json for an image. process.args is Entrypoint followed by Cmd; when the image
 * names neither, "sh" as `runc spec` does. User names need `rootfsDir` to be resolved.
 */
export function runtimeConfig(image: ImageConfig, opts: RuntimeConfigOptions = {}): RuntimeConfig {
  const c = image.config ?? {};
  const terminal = opts.terminal ?? false;
  const args = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  const user = resolveUser(c.User, opts.rootfsDir);
  const cfg: RuntimeConfig = {
    ociVersion: RUNTIME_SPEC_VERSION,
    process: {
      terminal,
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids ? { additionalGids: user.additionalGids } : {}) },
      args: args.length > 0 ? args : ['sh'],
      env: processEnv(c.Env, terminal),
      cwd: c.WorkingDir && c.WorkingDir.startsWith('/') ? c.WorkingDir : '/' + (c.WorkingDir ?? ''),
      capabilities: { bounding: [...DEFAULT_CAPS], effective: [...DEFAULT_CAPS], permitted: [...DEFAULT_CAPS] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: opts.rootfs ?? 'rootfs', readonly: opts.readonlyRoot ?? false },
    hostname: opts.hostname ?? 'ocimount',
    mounts: defaultMounts(),
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'].map((type) => ({ type })),
      maskedPaths: [
        '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
        '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  if (opts.annotations && Object.keys(opts.annotations).length > 0) cfg.annotations = { ...opts.annotations };
  return cfg;
}
