/**
 * Worker thread that renders scenes of the synthetic world for a probe set, so rendering runs on another core while
 * the main thread runs the model. Requests: `{ id, seed, index, size, classes }`; replies: `{ id, image, labels, cls }` (labels: the two planes of `sceneLabelPlanes`)
 * (buffers transferred) or `{ id, error }`.
 */
import { parentPortOrNull } from '../../parallel/thread.js';
import { renderScene, sceneLabelPlanes, sceneSpec } from '../../data/scenes/index.js';

/** The port to the parent thread; `null` when this module is loaded outside a worker thread. */
const parentPort = parentPortOrNull();

interface Request { id: number; seed: number; index: number; size: number; classes: string[] }

parentPort?.on('message', (m: Request) => {
  try {
    const r = renderScene(sceneSpec(m.seed, m.index, { size: m.size, classes: m.classes }));
    const labels = sceneLabelPlanes(r);
    parentPort.postMessage({ id: m.id, image: r.image, labels, cls: r.cls }, [r.image.buffer as ArrayBuffer, labels.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) });
  }
});
