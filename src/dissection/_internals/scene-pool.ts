/**
 * Renders scenes in a worker thread when one can be started, else on the calling thread. The worker runs the compiled
 * `scene-worker.js` (or the `.ts` source under tsx); when neither can start (e.g. inside a test runner that transforms
 * sources in memory), when the worker fails, or with `UNIT_ATTACK_WORKERS=0`, rendering falls back to this thread.
 */
import type { Worker } from '../../parallel/thread.js';
import { renderScene, sceneLabelPlanes, sceneSpec } from '../../data/scenes/index.js';
import { startWorker } from './worker-source.js';

/** A rendered probe scene; `labels` holds the two planes of `sceneLabelPlanes`. */
export interface RenderedProbeScene { image: Uint8Array; labels: Uint16Array; cls: string }

interface Pending { resolve: (r: RenderedProbeScene) => void; reject: (e: Error) => void; seed: number; index: number; size: number; classes: readonly string[] }

/** One render worker (the machine's other core), shared by every scenes probe set of the process. */
export class ScenePool {
  private worker: Worker | undefined;
  private failed = false;
  private next = 1;
  private readonly pending = new Map<number, Pending>();

  /** Renders scene `index` of dataset `seed`. */
  render(seed: number, index: number, size: number, classes: readonly string[]): Promise<RenderedProbeScene> {
    const w = this.ensure();
    if (!w) return Promise.resolve(renderHere(seed, index, size, classes));
    return new Promise((resolve, reject) => {
      const id = this.next++;
      this.pending.set(id, { resolve, reject, seed, index, size, classes });
      if (this.pending.size === 1) w.ref();
      w.postMessage({ id, seed, index, size, classes: [...classes] });
    });
  }

  private ensure(): Worker | undefined {
    if (this.failed) return undefined;
    if (this.worker) return this.worker;
    const w = startWorker('scene-worker');
    if (!w) { this.failed = true; return undefined; }
    w.unref();
    w.on('message', (m: { id: number; image?: Uint8Array; labels?: Uint16Array; cls?: string; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve({ image: m.image!, labels: m.labels!, cls: m.cls! });
    });
    const fail = (): void => {
      // Render whatever was waiting here, and everything later too.
      this.failed = true;
      this.worker = undefined;
      for (const p of this.pending.values()) {
        try { p.resolve(renderHere(p.seed, p.index, p.size, p.classes)); } catch (e) { p.reject(e as Error); }
      }
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => { if (code !== 0 || this.pending.size > 0) fail(); });
    this.worker = w;
    return w;
  }
}

function renderHere(seed: number, index: number, size: number, classes: readonly string[]): RenderedProbeScene {
  const r = renderScene(sceneSpec(seed, index, { size, classes }));
  return { image: r.image, labels: sceneLabelPlanes(r), cls: r.cls };
}

let shared: ScenePool | undefined;

/** The process-wide pool. */
export function scenePool(): ScenePool {
  shared ??= new ScenePool();
  return shared;
}
