// Views of a mounted tree through ordinary tools, for comparing back ends:
// find's listing (rootfs prefix stripped, sorted) and sha256 of every regular file.
import { run } from '../helpers/env';

export async function findListing(root: string): Promise<string[]> {
  const r = await run(['find', root, '-printf', '%p %m %u %g %s %l\\n'], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`find ${root} failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => (l.startsWith(root) ? l.slice(root.length) || '/' : l))
    .sort();
}

export async function fileHashes(root: string): Promise<string[]> {
  const r = await run(['sh', '-c', 'cd "$1" && find . -type f -print0 | xargs -0 -r sha256sum', 'sh', root], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`sha256sum under ${root} failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).sort();
}

/** First differing lines of two sorted listings, for a readable assertion message. */
export function firstDifferences(a: string[], b: string[], max = 10): string[] {
  const sa = new Set(a);
  const sb = new Set(b);
  const out: string[] = [];
  for (const l of a) if (!sb.has(l) && out.length < max) out.push(`- ${l}`);
  for (const l of b) if (!sa.has(l) && out.length < max * 2) out.push(`+ ${l}`);
  return out;
}
