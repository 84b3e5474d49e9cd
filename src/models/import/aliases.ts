/**
 * Layer aliases for imported models: a {@link Classifier} view that also accepts the names the source framework
 * uses (`layer4`, `features.29`, `/layer4/layer4.1/relu_1/Relu`, an ONNX output name) wherever a layer is named.
 */
import type * as tf from '../../tf.js';
import type { Classifier, LayerInfo, RunOptions, RunResult, UnitEdit } from '../types.js';

/**
 * Wraps `classifier` so that every method taking a layer name also takes an alias from `aliases` (alias → layer
 * name). Real layer names win over aliases. Tapped outputs come back under the name they were asked for.
 * Shares the classifier's weights; `dispose` frees them.
 *
 * @example
 * const clf = withLayerAliases(base, { layer4: 'layer4/layer4.1/relu_1/Relu' });
 * clf.activations(x, 'layer4');
 */
export function withLayerAliases(classifier: Classifier, aliases: Readonly<Record<string, string>>): Classifier {
  if (Object.keys(aliases).length === 0) return classifier;
  return new AliasedClassifier(classifier, aliases);
}

class AliasedClassifier implements Classifier {
  constructor(private readonly inner: Classifier, private readonly aliases: Readonly<Record<string, string>>) {}

  get name(): string { return this.inner.name; }
  get inputSize(): readonly [number, number] { return this.inner.inputSize; }
  get classNames(): readonly string[] { return this.inner.classNames; }
  get preprocessing(): Classifier['preprocessing'] { return this.inner.preprocessing; }
  get layers(): readonly LayerInfo[] { return this.inner.layers; }
  get defaultLayer(): string { return this.inner.defaultLayer; }
  get fingerprint(): string { return this.inner.fingerprint; }
  get differentiable(): boolean { return this.inner.differentiable; }

  /** The real layer name for `name` (unchanged when it is a layer or an unknown name). */
  resolve(name: string): string {
    if (this.inner.layers.some((l) => l.name === name)) return name;
    return Object.prototype.hasOwnProperty.call(this.aliases, name) ? this.aliases[name] : name;
  }

  layer(name: string): LayerInfo {
    return this.inner.layer(this.resolve(name));
  }

  logits(x: tf.Tensor4D): tf.Tensor2D {
    return this.inner.logits(x);
  }

  activations(x: tf.Tensor4D, layer: string): tf.Tensor {
    return this.inner.activations(x, this.resolve(layer));
  }

  run(x: tf.Tensor4D | null, options: RunOptions = {}): RunResult {
    const taps = options.taps?.map((t) => this.resolve(t));
    const rename = <T>(r: Readonly<Record<string, T>> | undefined): Record<string, T> | undefined =>
      r === undefined ? undefined : Object.fromEntries(Object.entries(r).map(([k, v]) => [this.resolve(k), v]));
    const edits = rename(options.edits);
    const overrides = rename(options.overrides);
    const result = this.inner.run(x, {
      ...(taps ? { taps } : {}), ...(edits ? { edits } : {}), ...(overrides ? { overrides } : {}),
    });
    if (!options.taps) return result;
    const out: Record<string, tf.Tensor> = {};
    const used = new Set<string>();
    for (const asked of options.taps) {
      const real = this.resolve(asked);
      const t = result.taps[real];
      if (t === undefined) continue;
      // The same layer asked for under two names: hand out a second tensor so each can be disposed.
      out[asked] = used.has(real) ? t.clone() : t;
      used.add(real);
    }
    for (const [real, t] of Object.entries(result.taps)) if (!used.has(real)) t.dispose();
    return { logits: result.logits, taps: out };
  }

  withEdits(layer: string, edit: UnitEdit): Classifier {
    return new AliasedClassifier(this.inner.withEdits(this.resolve(layer), edit), this.aliases);
  }

  dispose(): void {
    this.inner.dispose();
  }
}
