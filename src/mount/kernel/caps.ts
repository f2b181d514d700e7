// Whether this process may mount: root, or CAP_SYS_ADMIN in its effective set.
import * as fs from 'node:fs';

const CAP_SYS_ADMIN = 21n;

export function hasCapSysAdmin(): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return ((BigInt('0x' + m[1]) >> CAP_SYS_ADMIN) & 1n) === 1n;
  } catch {
    // no procfs: fall back to the uid
  }
  return process.geteuid?.() === 0;
}
