/**
 * The generator adapter: latent streams, sampling, taps and unit edits for a TensorFlow.js generator (layers or graph
 * model), the way {@link fromLayersModel} wraps a classifier. A layers model runs node by node through the same graph
 * walker as classifiers, so an edit of `layer4` is what every later layer sees; a graph model is re-entered at the
 * edited node by feeding the edited tensor in its place.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as tf from '../tf.js';
import { Prng, subSeed } from '../util/random.js';
import { ensureBackend } from '../engine/backend.js';
import { UnitAttackError, nearestNames, usageError } from '../errors.js';
import { applyEdit, checkEdit } from '../models/classifier.js';
import { PACKAGE_ROOT, SIDECAR_FILE, readArtifacts } from '../models/io.js';
import { graphLayer, layersGraph, runLayersGraph, type LayersGraph } from '../models/layers-graph.js';
import type { LayerInfo } from '../models/types.js';
import './net.js'; // registers the pixel-norm layer, so generator folders load
import { GENERATOR_FORMAT, readGeneratorSidecar, type GeneratorSidecar } from './save.js';
import type { GenerateOptions, GenerateResult, Generator, GeneratorEdit } from './types.js';

/** Built-in generators, by name, as folders inside the package. */
export const BUILTIN_GENERATORS: Readonly<Record<string, string>> = {
  'scenes-gan': path.join(PACKAGE_ROOT, 'models', 'scenes-gan'),
};

/** Options for {@link generatorFromModel} (the fields of a generator sidecar, all optional). */
export interface FromGeneratorModelOptions {
  /** @defaultValue the model's name */
  name?: string;
  /** The range of the raw output that maps to pixels [0, 1]. @defaultValue [-1, 1] */
  outputRange?: readonly [number, number];
  /** The layers to dissect, in network order. @defaultValue every layer with a spatial map */
  layers?: readonly string[];
  /** @defaultValue the last listed layer with an 8×8 map, else the last listed spatial layer */
  defaultLayer?: string;
  /** A precomputed fingerprint. @defaultValue a hash of topology (without layer names) and weights */
  fingerprint?: string;
}

/** Draws `count` standard-normal numbers from `rng` (Box–Muller, both values of each pair). */
function normals(rng: Prng, count: number, out: Float32Array, offset: number): void {
  for (let i = 0; i < count; i += 2) {
    const u1 = 1 - rng.next(); // (0, 1]
    const u2 = rng.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[offset + i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < count) out[offset + i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
}

/**
 * Latent vectors `from … from + count − 1` of stream `seed`, `[count, size]` standard normals. Latent i is drawn from
 * its own generator seeded by (seed, i), so it does not depend on how the stream is cut into batches.
 */
export function latentStream(seed: number, from: number, count: number, size: number): Float32Array {
  if (!Number.isSafeInteger(seed)) throw usageError(`the latent seed must be an integer, got ${String(seed)}`, { path: 'seed' });
  if (!Number.isSafeInteger(from) || from < 0) throw usageError(`the first latent index must be an integer ≥ 0, got ${String(from)}`, { path: 'from' });
  if (!Number.isSafeInteger(count) || count < 0) throw usageError(`the latent count must be an integer ≥ 0, got ${String(count)}`, { path: 'count' });
  const out = new Float32Array(count * size);
  for (let i = 0; i < count; i++) normals(new Prng(subSeed(seed, from + i)), size, out, i * size);
  return out;
}

/** The edits of one layer as a list. */
function editList(e: GeneratorEdit | readonly GeneratorEdit[]): readonly GeneratorEdit[] {
  return Array.isArray(e) ? e as readonly GeneratorEdit[] : [e as GeneratorEdit];
}

type Resume = NonNullable<GenerateOptions['resume']>;

/** Shared by both kinds of generator: checks, latents, the output mapping. */
abstract class BaseGenerator implements Generator {
  abstract readonly name: string;
  abstract readonly latentSize: number;
  abstract readonly outputSize: number;
  abstract readonly outputRange: readonly [number, number];
  abstract readonly layers: readonly LayerInfo[];
  abstract readonly defaultLayer: string;
  abstract readonly fingerprint: string;
  abstract layer(name: string): LayerInfo;
  abstract dispose(): void;
  /**
   * The raw output and the taps, edits applied, from `resume`'s value when given (the layers it depends on are not
   * run); inside a tidy. The names of the edited layers that were reached go into `applied`.
   */
  protected abstract raw(z: tf.Tensor2D, taps: readonly string[], edits: ReadonlyMap<string, readonly GeneratorEdit[]>, resume: Resume | undefined, applied: Set<string>): { output: tf.Tensor; taps: Record<string, tf.Tensor> };

  /** The raw output (before mapping and clipping), for the load check. */
  rawOutput(z: tf.Tensor2D): tf.Tensor {
    return tf.tidy(() => this.raw(z, [], new Map(), undefined, new Set()).output);
  }

  latents(seed: number, from: number, count: number): tf.Tensor2D {
    return tf.tensor2d(latentStream(seed, from, count, this.latentSize), [count, this.latentSize]);
  }

  generate(z: tf.Tensor2D, options: GenerateOptions = {}): GenerateResult {
    if (z.rank !== 2 || z.shape[1] !== this.latentSize) {
      throw usageError(`generator '${this.name}' takes latents [N, ${this.latentSize}]; got ${JSON.stringify(z.shape)}`, {
        path: 'z', hint: 'draw them with generator.latents(seed, from, count)',
      });
    }
    const taps = options.taps ?? [];
    for (const t of taps) this.layer(t);
    const edits = new Map<string, readonly GeneratorEdit[]>();
    for (const [layer, e] of Object.entries(options.edits ?? {})) {
      const info = this.layer(layer);
      const list = editList(e);
      for (const one of list) checkEdit(one, info);
      if (list.length > 0) edits.set(layer, list);
    }
    const resume = options.resume;
    if (resume) this.checkResume(resume, z.shape[0], taps, [...edits.keys()]);
    const [lo, hi] = this.outputRange;
    return tf.tidy(() => {
      const applied = new Set<string>();
      const r = this.raw(z, taps, edits, resume, applied);
      const skipped = [...edits.keys()].filter((l) => !applied.has(l));
      const untapped = taps.filter((t) => r.taps[t] === undefined);
      if (resume && (skipped.length > 0 || untapped.length > 0)) {
        throw usageError(`generator '${this.name}' resumes from layer '${resume.layer}', so ${skipped.length > 0 ? `the edits of ${skipped.map((l) => `'${l}'`).join(', ')}` : `the taps of ${untapped.map((l) => `'${l}'`).join(', ')}`} (before it) cannot apply`, {
          path: 'resume', hint: 'edit and tap only that layer and the ones after it, or generate without resume',
        });
      }
      const images = tf.clipByValue<tf.Tensor4D>(tf.div(tf.sub(r.output, lo), hi - lo), 0, 1);
      // The caller keeps its resume value: a tap that is that very tensor is handed back as a copy.
      const tapped = Object.fromEntries(Object.entries(r.taps).map(([k, v]) => [k, v === resume?.value ? tf.clone(v) : v]));
      return { images, taps: tapped };
    });
  }

  /** A resume value has the layer's shape for this batch, and no listed layer before it is edited or tapped. */
  private checkResume(resume: Resume, batch: number, taps: readonly string[], edited: readonly string[]): void {
    const info = this.layer(resume.layer);
    const want = [batch, ...info.shape];
    if (resume.value.shape.length !== want.length || resume.value.shape.some((d, i) => d !== want[i])) {
      throw usageError(`resume.value for layer '${resume.layer}' of generator '${this.name}' must be ${JSON.stringify(want)} (the layer's output for these ${batch} latents); got ${JSON.stringify(resume.value.shape)}`, {
        path: 'resume', hint: `pass the tap of '${resume.layer}' from generate(z, { taps: ['${resume.layer}'] }) on the same latents`,
      });
    }
    const order = this.layers.map((l) => l.name);
    const at = order.indexOf(resume.layer);
    const before = [...taps, ...edited].filter((l) => at >= 0 && order.indexOf(l) >= 0 && order.indexOf(l) < at);
    if (before.length > 0) {
      throw usageError(`generator '${this.name}' resumes from layer '${resume.layer}', so ${[...new Set(before)].map((l) => `'${l}'`).join(', ')} (before it) cannot be edited or tapped`, {
        path: 'resume', hint: 'edit and tap only that layer and the ones after it, or generate without resume',
      });
    }
  }
}

class LayersGenerator extends BaseGenerator {
  readonly name: string;
  readonly latentSize: number;
  readonly outputSize: number;
  readonly outputRange: readonly [number, number];
  readonly layers: readonly LayerInfo[];
  readonly defaultLayer: string;
  private readonly graph: LayersGraph;
  private readonly listed: readonly string[];
  private fp: string | undefined;

  constructor(readonly model: tf.LayersModel, options: FromGeneratorModelOptions) {
    super();
    this.graph = layersGraph(model);
    this.name = options.name ?? model.name;
    if (this.graph.inputs.length !== 1 || this.graph.outputs.length !== 1) {
      throw new UnitAttackError('UA_MODEL', `a generator needs one input and one output; model '${this.name}' has ${this.graph.inputs.length} inputs and ${this.graph.outputs.length} outputs`);
    }
    const inShape = this.graph.inputs[0].shape;
    if (inShape.length !== 2 || inShape[1] == null) {
      throw new UnitAttackError('UA_MODEL', `a generator takes latent vectors [N, size]; model '${this.name}' takes ${JSON.stringify(inShape)}`);
    }
    this.latentSize = inShape[1];
    const outShape = this.graph.outputs[0].shape;
    this.outputSize = checkOutputShape(outShape, this.name);
    this.outputRange = checkRange(options.outputRange ?? [-1, 1], 'outputRange');
    const names = options.layers ?? this.graph.layers.filter((l) => l.spatial).map((l) => l.name);
    this.layers = names.map((n) => this.layer(n));
    this.listed = names;
    this.defaultLayer = options.defaultLayer ?? defaultOf(this.layers);
    this.layer(this.defaultLayer);
    if (options.fingerprint !== undefined) this.fp = options.fingerprint;
  }

  /** A hash of the topology with layer names replaced by positions, the listed layers, the range and the weights. */
  get fingerprint(): string {
    if (this.fp === undefined) {
      const layers = this.model.layers;
      const pos = new Map(layers.map((l, i) => [l, i]));
      const topo = layers.map((l) => {
        const config: Record<string, unknown> = { ...l.getConfig() };
        delete config.name;
        const inbound = (l as unknown as { inboundNodes: Array<{ inboundLayers: tf.layers.Layer[] }> }).inboundNodes
          .map((n) => n.inboundLayers.map((x) => pos.get(x) ?? -1));
        return { cls: l.getClassName(), config, inbound };
      });
      const h = createHash('sha256');
      h.update(canonicalJson({ topo, listed: this.listed, range: this.outputRange, latent: this.latentSize }));
      for (const w of this.model.weights) h.update(new Uint8Array((w.read().dataSync() as Float32Array).slice().buffer));
      this.fp = h.digest('hex').slice(0, 16);
    }
    return this.fp;
  }

  layer(name: string): LayerInfo {
    return graphLayer(this.graph, name, this.name);
  }

  protected raw(z: tf.Tensor2D, taps: readonly string[], edits: ReadonlyMap<string, readonly GeneratorEdit[]>, resume: Resume | undefined, applied: Set<string>): { output: tf.Tensor; taps: Record<string, tf.Tensor> } {
    return runLayersGraph(this.graph, z, {
      taps,
      overrides: resume ? { [resume.layer]: resume.value } : undefined,
      edited: new Set(edits.keys()),
      edit: (layer, out) => {
        const list = edits.get(layer);
        if (list === undefined) return out;
        applied.add(layer);
        return list.reduce<tf.Tensor>((x, e) => applyEdit(x, e), out);
      },
    });
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** JSON with object keys sorted and null fields left out (a saved and reloaded layer spells defaults as nulls). */
function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return '[' + v.map(canonicalJson).join(',') + ']';
  const o = v as Record<string, unknown>;
  return '{' + Object.keys(o).sort().filter((k) => o[k] !== null && o[k] !== undefined)
    .map((k) => JSON.stringify(k) + ':' + canonicalJson(o[k])).join(',') + '}';
}

/** The default layer: the last listed one with an 8×8-like map (the PNAS layer4), else the last spatial one. */
function defaultOf(layers: readonly LayerInfo[]): string {
  const spatial = layers.filter((l) => l.spatial && l.shape.length === 3);
  const eight = spatial.filter((l) => l.shape[0] === 8 && l.shape[1] === 8);
  const pick = eight[eight.length - 1] ?? spatial[spatial.length - 1] ?? layers[layers.length - 1];
  if (!pick) throw new UnitAttackError('UA_MODEL', 'the generator lists no layers to tap', { path: 'layers' });
  return pick.name;
}

function checkOutputShape(shape: ReadonlyArray<number | null>, name: string): number {
  if (shape.length !== 4 || shape[3] !== 3 || shape[1] == null || shape[1] !== shape[2]) {
    throw new UnitAttackError('UA_MODEL', `a generator outputs square RGB images [N, S, S, 3]; model '${name}' outputs ${JSON.stringify(shape)}`);
  }
  return shape[1];
}

function checkRange(r: readonly [number, number], what: string): readonly [number, number] {
  if (!Array.isArray(r) || r.length !== 2 || !Number.isFinite(r[0]) || !Number.isFinite(r[1]) || !(r[0] < r[1])) {
    throw usageError(`${what} must be [low, high] with low < high, got ${JSON.stringify(r)}`, { path: what, hint: 'e.g. [-1, 1] for a tanh output' });
  }
  const out: readonly [number, number] = Object.freeze<[number, number]>([r[0], r[1]]);
  return out;
}

/**
 * Wraps a TensorFlow.js LayersModel that maps latents `[N, size]` to images `[N, S, S, 3]` as a {@link Generator}.
 * Taps and edits work at any named layer.
 *
 * @example
 * const g = generatorFromModel(buildGenerator({ seed: 1 }), { outputRange: [-1, 1] });
 * const z = g.latents(1, 0, 4);
 * const { images, taps } = g.generate(z, { taps: ['layer4'], edits: { layer4: { op: 'zero', units: [3] } } });
 */
export function generatorFromModel(model: tf.LayersModel, options: FromGeneratorModelOptions = {}): Generator {
  return new LayersGenerator(model, options);
}

/** The sidecar of a graph-model generator may map its layer names to graph node names. */
export interface GraphGeneratorSidecar extends GeneratorSidecar {
  /** Layer name → graph node name (a layer not listed is its own node name). */
  nodes?: Record<string, string>;
}

class GraphGenerator extends BaseGenerator {
  readonly layers: readonly LayerInfo[];
  readonly defaultLayer: string;
  readonly outputSize: number;
  private readonly inputName: string;
  private readonly outputName: string;
  private readonly nodeNames: ReadonlySet<string>;
  private readonly infos = new Map<string, LayerInfo>();
  private readonly order: readonly string[];

  constructor(
    private readonly model: tf.GraphModel, readonly name: string, readonly latentSize: number, readonly outputRange: readonly [number, number],
    private readonly nodes: Readonly<Record<string, string>>, layers: readonly string[], defaultLayer: string | undefined, readonly fingerprint: string,
  ) {
    super();
    this.inputName = model.inputs[0].name;
    this.outputName = model.outputs[0].name;
    const topo = (model as unknown as { artifacts?: { modelTopology?: { node?: Array<{ name: string }> } } }).artifacts?.modelTopology;
    this.nodeNames = new Set((topo?.node ?? []).map((n) => n.name));
    const out = tf.tidy(() => model.execute(tf.zeros([1, latentSize]), this.outputName) as tf.Tensor);
    const shape = out.shape;
    out.dispose();
    this.outputSize = checkOutputShape([null, ...shape.slice(1)], name);
    this.order = layers;
    this.layers = layers.map((l) => this.layer(l));
    this.defaultLayer = defaultLayer ?? defaultOf(this.layers);
    this.layer(this.defaultLayer);
  }

  layer(name: string): LayerInfo {
    const known = this.infos.get(name);
    if (known) return known;
    const node = this.nodes[name] ?? name;
    if (!this.nodeNames.has(node)) {
      const candidates = [...new Set([...Object.keys(this.nodes), ...this.order, ...this.nodeNames])];
      throw new UnitAttackError('UA_LAYER', `generator '${this.name}' has no layer '${name}'${node !== name ? ` (graph node '${node}')` : ''}`, {
        path: 'layer', hint: `nearest layer or node names: ${nearestNames(name, candidates).join(', ')}`,
      });
    }
    const out = tf.tidy(() => this.model.execute(tf.zeros([1, this.latentSize]), node) as tf.Tensor);
    const info: LayerInfo = { name, shape: out.shape.slice(1), className: 'GraphNode', spatial: out.rank === 4 };
    out.dispose();
    this.infos.set(name, info);
    return info;
  }

  protected raw(z: tf.Tensor2D, taps: readonly string[], edits: ReadonlyMap<string, readonly GeneratorEdit[]>, resume: Resume | undefined, applied: Set<string>): { output: tf.Tensor; taps: Record<string, tf.Tensor> } {
    // Edited layers in network order: each is computed from the feeds so far, edited, and fed in its node's place.
    const rank = (l: string): number => { const i = this.order.indexOf(l); return i < 0 ? Number.MAX_SAFE_INTEGER : i; };
    const feeds: Record<string, tf.Tensor> = { [this.inputName]: z };
    const edited: Record<string, tf.Tensor> = {};
    if (resume) feeds[this.nodes[resume.layer] ?? resume.layer] = resume.value;
    for (const layer of [...edits.keys()].sort((a, b) => rank(a) - rank(b))) {
      const node = this.nodes[layer] ?? layer;
      const value = resume?.layer === layer ? resume.value : this.model.execute(feeds, node) as tf.Tensor;
      edited[layer] = edits.get(layer)!.reduce<tf.Tensor>((x, e) => applyEdit(x, e), value);
      feeds[node] = edited[layer];
      applied.add(layer);
    }
    const rest = taps.filter((t) => edited[t] === undefined);
    const res = this.model.execute(feeds, [this.outputName, ...rest.map((t) => this.nodes[t] ?? t)]);
    const outs = Array.isArray(res) ? res : [res];
    const tapped: Record<string, tf.Tensor> = {};
    for (const t of taps) tapped[t] = edited[t] ?? outs[1 + rest.indexOf(t)];
    return { output: outs[0], taps: tapped };
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Options for {@link loadGenerator}. */
export interface LoadGeneratorOptions {
  /** Latents generated to check the output range against the sidecar's. @defaultValue 4 */
  rangeCheckSamples?: number;
}

/** Allowed overshoot of the sidecar's output range in the load check, as a share of its width. */
const RANGE_TOLERANCE = 0.01;

/** Whether `spec` names a generator: `builtin:scenes-gan`, or a folder / `model.json` whose sidecar has the generator format. */
export function isGeneratorSpec(spec: string): boolean {
  if (spec.startsWith('builtin:')) return BUILTIN_GENERATORS[spec.slice('builtin:'.length)] !== undefined;
  const dir = spec.endsWith('.json') ? path.dirname(spec) : spec;
  const file = path.join(dir, SIDECAR_FILE);
  if (!existsSync(file)) return false;
  try {
    return statSync(file).isFile() && (JSON.parse(readFileSync(file, 'utf8')) as { format?: unknown }).format === GENERATOR_FORMAT;
  } catch {
    return false;
  }
}

/**
 * Loads a generator: `builtin:scenes-gan`, a generator folder (`model.json` + weights + `unit-attack.json` of format
 * `unit-attack-generator`) or its `model.json`, in the TensorFlow.js layers or graph format. A few samples are
 * generated to check that the raw output lies within the sidecar's `outputRange`.
 *
 * @example
 * const g = await loadGenerator('builtin:scenes-gan');
 * const { images } = g.generate(g.latents(1, 0, 8));
 */
export async function loadGenerator(spec: string, options: LoadGeneratorOptions = {}): Promise<Generator> {
  await ensureBackend();
  let dir: string;
  if (spec.startsWith('builtin:')) {
    const d = BUILTIN_GENERATORS[spec.slice('builtin:'.length)];
    if (d === undefined) {
      throw new UnitAttackError('UA_MODEL', `unknown built-in generator '${spec}'`, {
        path: 'model', hint: `built-in generators: ${Object.keys(BUILTIN_GENERATORS).map((k) => 'builtin:' + k).join(', ')}`,
      });
    }
    dir = d;
  } else if (spec.endsWith('.json')) {
    dir = path.dirname(spec);
  } else {
    dir = spec;
  }
  const jsonPath = spec.endsWith('.json') ? spec : path.join(dir, 'model.json');
  if (!existsSync(jsonPath)) {
    throw new UnitAttackError('UA_MODEL', `no generator at '${spec}' (no ${jsonPath})`, {
      file: spec, path: 'model', hint: 'give builtin:scenes-gan, a generator folder (model.json + weights + unit-attack.json) or its model.json; train one with `unit-attack train-gan --out DIR`',
    });
  }
  const sidecar = await readGeneratorSidecar(dir) as GraphGeneratorSidecar;
  const sidecarFile = path.join(dir, SIDECAR_FILE);
  const { artifacts, fingerprint: fileHash } = await readArtifacts(jsonPath);
  const isGraph = (artifacts.format ?? '').toLowerCase() === 'graph-model' || (artifacts.modelTopology as { node?: unknown } | undefined)?.node !== undefined;
  const layers = sidecar.layers;
  let g: BaseGenerator;
  try {
    if (isGraph) {
      const gm = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
      const fp = createHash('sha256').update(fileHash).update(JSON.stringify({ range: sidecar.outputRange, layers, nodes: sidecar.nodes ?? {} })).digest('hex').slice(0, 16);
      g = new GraphGenerator(gm, spec, sidecar.latentSize, checkRange(sidecar.outputRange, 'outputRange'), sidecar.nodes ?? {}, layers, sidecar.defaultLayer, fp);
    } else {
      const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
      g = new LayersGenerator(model, {
        name: spec, outputRange: sidecar.outputRange, layers,
        ...(sidecar.defaultLayer !== undefined ? { defaultLayer: sidecar.defaultLayer } : {}),
      });
    }
  } catch (err) {
    if (err instanceof UnitAttackError) {
      throw new UnitAttackError(err.code, `${sidecarFile}: ${err.message}`, { file: sidecarFile, ...(err.path !== undefined ? { path: err.path } : {}), ...(err.hint !== undefined ? { hint: err.hint } : {}), cause: err });
    }
    throw new UnitAttackError('UA_MODEL', `could not load the generator at '${jsonPath}': ${(err as Error).message}`, { file: jsonPath, cause: err });
  }
  try {
    checkAgainstSidecar(g, sidecar, sidecarFile, options.rangeCheckSamples ?? 4);
  } catch (err) {
    g.dispose();
    throw err;
  }
  return g;
}

/** The sidecar's latent size, output size and output range against the model's. */
function checkAgainstSidecar(g: BaseGenerator, s: GeneratorSidecar, file: string, samples: number): void {
  if (g.latentSize !== s.latentSize) {
    throw new UnitAttackError('UA_MODEL', `${file} says "latentSize": ${s.latentSize}, but the model takes latents of size ${g.latentSize}`, {
      file, path: 'latentSize', hint: `set "latentSize": ${g.latentSize} in the sidecar`,
    });
  }
  if (s.outputSize !== undefined && g.outputSize !== s.outputSize) {
    throw new UnitAttackError('UA_MODEL', `${file} says "outputSize": ${s.outputSize}, but the model outputs ${g.outputSize}×${g.outputSize} images`, {
      file, path: 'outputSize', hint: `set "outputSize": ${g.outputSize} in the sidecar`,
    });
  }
  if (samples < 1) return;
  const [lo, hi] = g.outputRange;
  const { min, max } = rawRange(g, samples);
  const tol = RANGE_TOLERANCE * (hi - lo);
  if (!(min >= lo - tol && max <= hi + tol)) {
    throw new UnitAttackError('UA_MODEL', `the generator's raw output over ${samples} samples spans [${min.toPrecision(4)}, ${max.toPrecision(4)}], outside the "outputRange" [${lo}, ${hi}] of ${file}`, {
      file, path: 'outputRange', hint: 'set "outputRange" in the sidecar to the range of the model\'s last layer (e.g. [-1, 1] for tanh, [0, 1] for a sigmoid, [0, 255] for 8-bit pixels)',
    });
  }
}

/** Minimum and maximum of the raw (unmapped, unclipped) output over the first `samples` latents of stream 0. */
function rawRange(g: BaseGenerator, samples: number): { min: number; max: number } {
  const z = g.latents(0, 0, samples);
  const out = tf.tidy(() => g.rawOutput(z));
  z.dispose();
  try {
    let min = Infinity; let max = -Infinity;
    for (const x of out.dataSync()) { if (x < min) min = x; if (x > max) max = x; }
    return { min, max };
  } finally {
    out.dispose();
  }
}
