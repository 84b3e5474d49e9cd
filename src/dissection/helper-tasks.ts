/**
 * The dissection's helper tasks, which run beside the model on another core: rendering a scene of the synthetic world
 * for a probe set (`render-scene`, no context), and a bank of quantile sketches, one per unit, fed batch by batch
 * (the `sketches` context, whose state the tasks `sketch-update`, `sketch-quantiles`, `sketch-serialize` and
 * `sketch-reset` change or read, in the order sent).
 */
import { renderScene, sceneLabelPlanes, sceneSpec } from '../data/scenes/index.js';
import { registerContext, registerPoolTask } from '../parallel/executor.js';
import { QuantileSketch } from './quantile.js';

/** What `render-scene` takes: scene `index` of dataset `seed`. */
export interface RenderSceneInput { seed: number; index: number; size: number; classes: string[] }

/** A rendered probe scene; `labels` holds the two planes of `sceneLabelPlanes`. */
export interface RenderedProbeScene { image: Uint8Array; labels: Uint16Array; cls: string }

/** Renders scene `index` of dataset `seed` with its label planes. */
export function renderProbeScene(input: RenderSceneInput): RenderedProbeScene {
  const r = renderScene(sceneSpec(input.seed, input.index, { size: input.size, classes: input.classes }));
  return { image: r.image, labels: sceneLabelPlanes(r), cls: r.cls };
}

registerPoolTask<RenderSceneInput, RenderedProbeScene, unknown>('render-scene', (_ctx, input) => {
  const value = renderProbeScene(input);
  return Promise.resolve({ value, transfer: [value.image.buffer as ArrayBuffer, value.labels.buffer as ArrayBuffer] });
});

/** The spec of a sketch bank: sketch size and one seed per unit. */
export interface SketchesSpec { k: number; seeds: number[] }

/** A sketch bank's state. */
export interface SketchesResources { k: number; sketches: QuantileSketch[] }

const newSketches = (k: number, seeds: readonly number[]): QuantileSketch[] => seeds.map((seed) => new QuantileSketch({ k, seed }));

registerContext<SketchesSpec, SketchesResources>('sketches', {
  load: (spec) => Promise.resolve({ k: spec.k, sketches: newSketches(spec.k, spec.seeds) }),
  tensors: false,
});

registerPoolTask<{ values: Float32Array; perUnit: number }, null, SketchesResources>('sketch-update', (ctx, { values, perUnit }) => {
  const s = ctx.sketches;
  for (let u = 0; u < s.length; u++) s[u].update(values, u * perUnit, (u + 1) * perUnit);
  return Promise.resolve({ value: null });
});

registerPoolTask<{ q: number }, Float32Array, SketchesResources>('sketch-quantiles', (ctx, { q }) => {
  const value = Float32Array.from(ctx.sketches, (s) => s.quantile(q));
  return Promise.resolve({ value, transfer: [value.buffer] });
});

registerPoolTask<null, Uint8Array[], SketchesResources>('sketch-serialize', (ctx) => {
  const value = ctx.sketches.map((s) => s.serialize());
  return Promise.resolve({ value, transfer: value.map((v) => v.buffer as ArrayBuffer) });
});

registerPoolTask<{ seeds: number[] }, null, SketchesResources>('sketch-reset', (ctx, { seeds }) => {
  // The context object is this thread's (inline: the bank's own), so the new sketches replace the old in place.
  ctx.sketches.splice(0, ctx.sketches.length, ...newSketches(ctx.k, seeds));
  return Promise.resolve({ value: null });
});
