/**
 * Reads a Keras HDF5 file (`model.save('m.h5')` or `model.save_weights('w.h5')`, Keras 2 layout) with h5wasm:
 * the model config when present, and every layer's weights in the order Keras saved them.
 *
 * Layout: the weights sit at the root (weights-only files) or under `model_weights` (whole models); that group's
 * attribute `layer_names` lists the layers, each layer group's attribute `weight_names` lists its weights
 * (`block1_conv1/kernel:0`, …), and each weight is the dataset at `<layer>/<weight name>`.
 */
import * as h5wasm from 'h5wasm/node';
import { UnitAttackError } from '../../../errors.js';

export interface KerasWeight {
  /** As saved, e.g. `block1_conv1/kernel:0`. */
  name: string;
  /** The last part without the `:0`, e.g. `kernel`. */
  shortName: string;
  shape: number[];
  data: Float32Array;
}

export interface KerasLayerWeights {
  name: string;
  weights: KerasWeight[];
}

export interface KerasH5 {
  /** The parsed `model_config` attribute (whole-model files only). */
  modelConfig?: unknown;
  kerasVersion?: string;
  /** Layers in saved order, including those without weights. */
  layers: KerasLayerWeights[];
}

let ready: Promise<unknown> | undefined;

function attrString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return undefined;
}

function attrStrings(v: unknown): string[] {
  if (v === null || v === undefined) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.map((s) => attrString(s) ?? String(s));
  return [];
}

/**
 * Reads a Keras `.h5` file. Throws a `UA_INPUT` error when the file is not HDF5 or not in Keras' layout.
 *
 * @example
 * const h5 = await readKerasH5('vgg16_weights_tf_dim_ordering_tf_kernels.h5');
 */
export async function readKerasH5(file: string): Promise<KerasH5> {
  ready ??= h5wasm.ready;
  await ready;
  let f: h5wasm.File;
  try {
    f = new h5wasm.File(file, 'r');
  } catch (err) {
    throw new UnitAttackError('UA_INPUT', `${file} cannot be opened as HDF5: ${(err as Error).message}`, { file, cause: err });
  }
  try {
    const rootAttrs = f.attrs;
    const configText = attrString(rootAttrs.model_config?.value);
    let modelConfig: unknown;
    if (configText !== undefined) {
      try {
        modelConfig = JSON.parse(configText);
      } catch (err) {
        throw new UnitAttackError('UA_INPUT', `${file}: the model_config attribute is not valid JSON`, { file, cause: err });
      }
    }
    const group = f.keys().includes('model_weights') ? f.get('model_weights') as h5wasm.Group : f;
    const names = attrStrings(group.attrs.layer_names?.value);
    if (names.length === 0) {
      const keras3 = f.keys().includes('layers') || f.keys().includes('_layer_checkpoint_dependencies');
      throw new UnitAttackError('UA_INPUT', `${file} is HDF5 but not in Keras' .h5 layout (no layer_names attribute)`, {
        file,
        hint: keras3 ? 'this looks like a Keras 3 .weights.h5 file: save it with Keras 2 (tf.keras) as model.save("model.h5"), or convert it to TF.js'
          : 'give a file written by Keras model.save("model.h5") or model.save_weights("weights.h5")',
      });
    }
    const layers: KerasLayerWeights[] = [];
    for (const name of names) {
      const lg = group.get(name);
      if (!(lg instanceof h5wasm.Group)) {
        throw new UnitAttackError('UA_INPUT', `${file}: layer '${name}' is listed in layer_names but has no group`, { file });
      }
      const weights: KerasWeight[] = [];
      for (const wname of attrStrings(lg.attrs.weight_names?.value)) {
        const ds = lg.get(wname);
        if (!(ds instanceof h5wasm.Dataset)) {
          throw new UnitAttackError('UA_INPUT', `${file}: weight '${wname}' of layer '${name}' is listed but missing`, { file });
        }
        weights.push({
          name: wname,
          shortName: wname.split('/').pop()!.replace(/:\d+$/, ''),
          shape: ds.shape ?? [],
          data: toFloat32(ds.value, `${name}/${wname}`, file),
        });
      }
      layers.push({ name, weights });
    }
    const kerasVersion = attrString(rootAttrs.keras_version?.value) ?? attrString(group.attrs.keras_version?.value);
    return { ...(modelConfig !== undefined ? { modelConfig } : {}), ...(kerasVersion !== undefined ? { kerasVersion } : {}), layers };
  } finally {
    f.close();
  }
}

function toFloat32(v: unknown, what: string, file: string): Float32Array {
  if (v instanceof Float32Array) return v;
  if (v instanceof Float64Array) return Float32Array.from(v);
  if (v instanceof Uint16Array) {
    // float16 comes as raw halves
    const out = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const h = v[i];
      const s = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const f = h & 0x3ff;
      out[i] = e === 0 ? s * 2 ** -14 * (f / 1024) : e === 31 ? (f ? NaN : s * Infinity) : s * 2 ** (e - 15) * (1 + f / 1024);
    }
    return out;
  }
  if (typeof v === 'number') return Float32Array.of(v);
  throw new UnitAttackError('UA_INPUT', `${file}: weight '${what}' is not a float array`, { file });
}
