// readdir answers kept for directories made only of lower layers. Such a listing
// cannot change while it has no upper part, and it only gets one through a copy-up
// (create, mkdir, rename, whiteout…), which calls LayerStack.invalidate() and so
// moves the stack's generation on: every kept answer is then dropped. A warm `find`
// then costs no merge work, only the round trip into JS.
import type { LayerStack, Resolved } from '../../overlay';

export interface DirAnswer {
  names: string[];
  stats: Uint32Array[];
}

export class ReaddirCache {
  private readonly answers = new Map<string, DirAnswer>();
  private generation = -1;

  constructor(private readonly stack: LayerStack) {}

  private cacheable(dir: Resolved): boolean {
    // With an upper dir, layer 0 is upper; a directory it contributes to can change.
    return !this.stack.hasUpper || (dir.dirLayers !== undefined && !dir.dirLayers.includes(0));
  }

  get(dir: Resolved): DirAnswer | undefined {
    if (this.generation !== this.stack.generation) {
      this.answers.clear();
      this.generation = this.stack.generation;
      return undefined;
    }
    return this.answers.get(dir.rel);
  }

  put(dir: Resolved, names: string[], stats: Uint32Array[]): void {
    if (this.generation !== this.stack.generation || !this.cacheable(dir)) return;
    this.answers.set(dir.rel, { names, stats });
  }
}
