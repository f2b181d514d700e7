// Pull progress on stderr: on a TTY a live line per blob (bytes, rate), redrawn
// at most every 100 ms; otherwise one line per blob when it is done; nothing when quiet.
import type { PullProgress } from '../index';

export function bytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

function rate(n: number, ms: number): string {
  return ms > 0 ? `${bytes(Math.round((n * 1000) / ms))}/s` : '';
}

interface Row {
  p: PullProgress;
  started: number;
  ended?: number;
}

export interface ProgressView {
  onProgress(p: PullProgress): void;
  /** Final redraw (TTY); call before printing anything else. */
  finish(): void;
}

function label(p: PullProgress): string {
  return `${p.kind.padEnd(8)} ${p.digest.slice(7, 19)}`;
}

function rowText(r: Row, now: number): string {
  const { p } = r;
  if (p.phase === 'skipped') return `${label(p)}  ${bytes(p.total).padStart(9)}  already present`;
  const ms = (r.ended ?? now) - r.started;
  if (p.phase === 'done') return `${label(p)}  ${bytes(p.total).padStart(9)}  done in ${(ms / 1000).toFixed(1)}s ${rate(p.total, ms)}${p.resumed ? ` (resumed ${p.resumed}x)` : ''}`;
  return `${label(p)}  ${bytes(p.bytes).padStart(9)} / ${bytes(p.total)}  ${rate(p.bytes, ms)}`;
}

export function progressView(out: NodeJS.WriteStream, opts: { quiet?: boolean; tty?: boolean } = {}): ProgressView {
  if (opts.quiet) return { onProgress: () => undefined, finish: () => undefined };
  const rows = new Map<string, Row>();
  /** The blob's row, updated; `ended` is set when it is done or skipped. */
  const track = (p: PullProgress, now: number): Row => {
    const r = rows.get(p.digest) ?? { p, started: now };
    rows.set(p.digest, r);
    r.p = p;
    if (p.phase === 'done' || p.phase === 'skipped') r.ended = now;
    return r;
  };
  if (!(opts.tty ?? out.isTTY)) {
    // Not a terminal: one line per blob, when it is finished.
    return {
      onProgress(p) {
        const now = Date.now();
        const r = track(p, now);
        if (p.phase === 'done' || p.phase === 'skipped') out.write(`${rowText(r, now)}\n`);
      },
      finish: () => undefined,
    };
  }
  let drawn = 0;
  let last = 0;
  const draw = (): void => {
    const now = Date.now();
    last = now;
    let s = drawn ? `\x1b[${drawn}A` : '';
    for (const r of rows.values()) s += `\r${rowText(r, now)}\x1b[K\n`;
    drawn = rows.size;
    out.write(s);
  };
  return {
    onProgress(p) {
      const now = Date.now();
      track(p, now);
      if (p.phase !== 'progress' || now - last >= 100) draw();
    },
    finish: draw,
  };
}
