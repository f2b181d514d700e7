// --trace: one line per FUSE operation (op, path, result, answering layer,
// whiteout/opaque hits, copy-ups, duration). The traced table wraps the plain
// one at mount time, so an untraced mount runs exactly the plain handlers.
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Hit, LayerStack } from '../overlay';
import { relOf } from '../overlay';
import type { OpNotes, OpTable } from '../mount/fuse/ops';

export interface TraceTarget {
  stack: LayerStack;
  notes: OpNotes;
}

const ERRNAME = new Map<number, string>(Object.entries(os.constants.errno).map(([k, v]) => [v as number, k]));

function describeResult(op: string, args: unknown[]): string {
  const err = args[0] as number;
  if (typeof err === 'number' && err < 0) return ERRNAME.get(-err) ?? String(err);
  if ((op === 'read' || op === 'write') && typeof err === 'number') return `${err}B`;
  if (op === 'open' || op === 'create') return `fd=${args[1]}`;
  if (op === 'readdir' && Array.isArray(args[1])) return `${(args[1] as unknown[]).length - 2} names`;
  return 'ok';
}

export function formatHits(stack: LayerStack, hits: Hit[]): string {
  return hits.map((h) => `${h.kind}@${stack.layers[h.layer].label}:/${h.rel}`).join(' ');
}

/** Opens the trace sink: '-' is stderr, anything else a file appended to. */
export function openTraceSink(dest: string): (line: string) => void {
  if (dest === '-' || dest === '') return (line) => process.stderr.write(line + '\n');
  const fd = fs.openSync(dest, 'a');
  return (line) => fs.writeSync(fd, line + '\n');
}

/** Wraps every handler of a table with tracing. */
export function traceTable(table: OpTable, target: TraceTarget, sink: (line: string) => void): OpTable {
  const out: OpTable = {};
  for (const [op, fn] of Object.entries(table)) {
    out[op] = (...args: unknown[]) => {
      const cb = args[args.length - 1] as (...a: unknown[]) => void;
      const path = typeof args[0] === 'string' ? args[0] : '';
      // Hits are explained before the op runs, against the state the op saw.
      const hits: Hit[] = [];
      if (path && op !== 'read' && op !== 'write' && op !== 'release' && op !== 'flush') target.stack.lookup(relOf(path), hits);
      target.notes.layer = undefined;
      target.notes.copyUps.length = 0;
      const t0 = process.hrtime.bigint();
      args[args.length - 1] = (...res: unknown[]) => {
        const us = Number((process.hrtime.bigint() - t0) / 1000n);
        const layer = target.notes.layer;
        const parts = [
          new Date().toISOString(),
          op,
          op === 'rename' || op === 'link' || op === 'symlink' ? `${args[0]} -> ${args[1]}` : path,
          '=>',
          describeResult(op, res),
        ];
        if (layer !== undefined) parts.push(`layer=${target.stack.layers[layer].label}`);
        if (hits.length) parts.push(formatHits(target.stack, hits));
        if (target.notes.copyUps.length) parts.push(`copy-up=${target.notes.copyUps.map((p) => '/' + p.replace(/^\//, '')).join(',')}`);
        parts.push(`${us}us`);
        sink(parts.join(' '));
        cb(...res);
      };
      fn(...args);
    };
  }
  return out;
}
