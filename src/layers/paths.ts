// Path containment for tar entry names: one job, pure.
// An entry name becomes a list of components under the layer root, or is refused.

export type NormalisedPath =
  | { ok: true; parts: string[]; rel: string; strippedAbsolute: boolean }
  | { ok: false; code: 'DOTDOT_PATH' | 'BAD_PATH'; reason: string };

export function normaliseEntryPath(raw: string): NormalisedPath {
  if (raw.includes('\0')) return { ok: false, code: 'BAD_PATH', reason: 'name contains NUL' };
  const strippedAbsolute = raw.startsWith('/');
  const parts: string[] = [];
  for (const p of raw.split('/')) {
    if (p === '' || p === '.') continue;
    // Refused rather than resolved: "a/../b" in a layer is never legitimate.
    if (p === '..') return { ok: false, code: 'DOTDOT_PATH', reason: 'name contains ".."' };
    parts.push(p);
  }
  return { ok: true, parts, rel: parts.join('/'), strippedAbsolute };
}

export function parentRel(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}

export function baseName(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** Number of components ('' = the layer root = 0). */
export function depth(rel: string): number {
  if (rel === '') return 0;
  let n = 1;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 0x2f) n++;
  return n;
}
