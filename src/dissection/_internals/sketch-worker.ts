/**
 * Worker thread that holds one quantile sketch per unit and ingests upsampled activations, so that the sketches'
 * sorting runs on another core while the main thread runs the model. Messages: `init { k, seeds }` → `ready`
 * (also to start again with new sketches); `update { values, perUnit }` (unit-major, transferred) → `ack`;
 * `quantiles { q }` → `quantiles { values }`; `serialize` → `sketches { values }` (one serialized sketch per unit).
 */
import { parentPortOrNull } from '../../parallel/thread.js';
import { QuantileSketch } from '../quantile.js';

/** The port to the parent thread; `null` when this module is loaded outside a worker thread. */
const parentPort = parentPortOrNull();

type Message =
  | { type: 'init'; k: number; seeds: number[] }
  | { type: 'update'; values: Float32Array; perUnit: number }
  | { type: 'quantiles'; q: number }
  | { type: 'serialize' };

let sketches: QuantileSketch[] = [];

parentPort?.on('message', (m: Message) => {
  try {
    if (m.type === 'init') {
      sketches = m.seeds.map((seed) => new QuantileSketch({ k: m.k, seed }));
      parentPort.postMessage({ type: 'ready' });
    } else if (m.type === 'update') {
      for (let u = 0; u < sketches.length; u++) sketches[u].update(m.values, u * m.perUnit, (u + 1) * m.perUnit);
      parentPort.postMessage({ type: 'ack' });
    } else if (m.type === 'serialize') {
      const values = sketches.map((s) => s.serialize());
      parentPort.postMessage({ type: 'sketches', values }, values.map((v) => v.buffer as ArrayBuffer));
    } else {
      parentPort.postMessage({ type: 'quantiles', values: Float32Array.from(sketches, (s) => s.quantile(m.q)) });
    }
  } catch (err) {
    parentPort.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
});
