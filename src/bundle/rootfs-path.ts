// Resolves a path inside a root filesystem as the container would see it: symlinks
// (absolute or relative) are followed within the rootfs and can never lead out of it.
import * as fs from 'node:fs';
import * as path from 'node:path';

const MAX_LINKS = 40; // as the kernel's MAXSYMLINKS

/** Host path for `inner` (e.g. "/etc/passwd") under `rootfs`, symlinks resolved inside rootfs. */
export function resolveInRootfs(rootfs: string, inner: string): string {
  const todo = inner.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    if (c === '..') {
      done.pop(); // '..' at the root stays at the root
      continue;
    }
    const host = path.join(rootfs, ...done, c);
    let target: string | undefined;
    try {
      if (fs.lstatSync(host).isSymbolicLink()) target = fs.readlinkSync(host);
    } catch {
      // missing: the rest of the path is taken literally
    }
    if (target === undefined) {
      done.push(c);
      continue;
    }
    if (++links > MAX_LINKS) throw Object.assign(new Error(`too many symlinks resolving ${inner}`), { code: 'ELOOP' });
    if (target.startsWith('/')) done.length = 0;
    todo.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
  }
  return path.join(rootfs, ...done);
}
