// mkdir -p that always ends. Node 20's recursive mkdir loops forever where a parent
// exists but mkdir of the child says ENOENT (e.g. under /proc): it creates the parent
// (EEXIST), retries the child, and so on. This walks up once and down once.
import * as fs from 'node:fs';
import * as path from 'node:path';

export function mkdirp(dir: string, mode = 0o777): void {
  const missing: string[] = [];
  let d = path.resolve(dir);
  for (;;) {
    try {
      if (!fs.statSync(d).isDirectory()) {
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}' (${d} is a file)`), { code: 'ENOTDIR', path: d });
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      missing.push(d);
      const up = path.dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  for (const m of missing.reverse()) {
    try {
      fs.mkdirSync(m, { mode });
    } catch (err) {
      // Made meanwhile by someone else: fine. Anything else (ENOENT under /proc, EACCES) is final.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
