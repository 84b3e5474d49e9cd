/**
 * Renders scenes on a helper thread of the executor (the `render-scene` task of `../helper-tasks.ts`) when one can be
 * started, else on the calling thread: when none can start (e.g. inside a test runner that transforms sources in
 * memory), when the thread fails, or with `UNIT_ATTACK_WORKERS=0`. An idle thread does not keep the process alive.
 */
import { startExecutor, type Executor } from '../../parallel/index.js';
import { renderProbeScene, type RenderedProbeScene, type RenderSceneInput } from '../helper-tasks.js';

export type { RenderedProbeScene } from '../helper-tasks.js';

/** One render thread (the machine's other core), shared by every scenes probe set of the process. */
export class ScenePool {
  private exec: Promise<Executor> | undefined;
  private failed = false;

  /** Renders scene `index` of dataset `seed`. */
  async render(seed: number, index: number, size: number, classes: readonly string[]): Promise<RenderedProbeScene> {
    const input: RenderSceneInput = { seed, index, size, classes: [...classes] };
    if (!this.failed) {
      this.exec ??= startExecutor({ context: { kind: 'none', spec: {} }, workers: 1, threads: true, besideOnly: true, unrefWhenIdle: true });
      const exec = await this.exec;
      if (exec.backend === 'threads') {
        try {
          return await exec.run<RenderedProbeScene>({ kind: 'render-scene', input, label: `scene ${index} of dataset ${seed}` });
        } catch {
          // Render this one here, and everything later too.
          this.failed = true;
          void exec.close();
        }
      } else {
        this.failed = true;
      }
    }
    return renderProbeScene(input);
  }
}

let shared: ScenePool | undefined;

/** The process-wide pool. */
export function scenePool(): ScenePool {
  shared ??= new ScenePool();
  return shared;
}
