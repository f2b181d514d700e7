// Platform strings ("linux/arm64/v8") and matching them against index entries.
import { OcimountError } from '../errors';
import type { Descriptor, Platform } from './types';

const NODE_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export function hostPlatform(): Platform {
  const arch = NODE_ARCH[process.arch] ?? process.arch;
  const p: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: arch };
  if (arch === 'arm64') p.variant = 'v8';
  return p;
}

export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new OcimountError('USAGE', `invalid platform "${s}": expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8`);
  }
  const p: Platform = { os: parts[0], architecture: parts[1] };
  if (parts[2]) p.variant = parts[2];
  return p;
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** arm64 without a variant means v8, as containerd's platform matcher assumes. */
function normVariant(p: Platform): string | undefined {
  if (p.architecture === 'arm64' && (p.variant === undefined || p.variant === '')) return 'v8';
  return p.variant || undefined;
}

export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  if (want.os !== have.os || want.architecture !== have.architecture) return false;
  const wv = normVariant(want);
  return wv === undefined || wv === normVariant(have);
}

/** Picks the index entry for a platform, or throws NOT_FOUND listing the platforms that are there. */
export function selectPlatform(manifests: Descriptor[], want: Platform): Descriptor {
  const hit = manifests.find((d) => platformMatches(want, d.platform));
  if (hit) return hit;
  const have = manifests.filter((d) => d.platform).map((d) => formatPlatform(d.platform));
  throw new OcimountError(
    'NOT_FOUND',
    `no image for platform ${formatPlatform(want)} in the index; it has: ${have.join(', ') || '(no platform entries)'}`,
    { platforms: have },
  );
}
