/**
 * Evaluates ONNX nodes whose inputs are all constants: the shape arithmetic `torch.onnx.export` writes around
 * `x.view(x.size(0), -1)` or `F.pad` (Shape → Gather → Unsqueeze → Concat → Reshape, ConstantOfShape → Slice →
 * Transpose → Cast), and Identity nodes on shared initializers. A batch dimension, unknown at import time, is NaN.
 */
import { ONNX_DTYPE, type OnnxAttribute, type OnnxNode, type OnnxTensor } from './proto.js';

const FLOAT_TYPES = new Set<number>([ONNX_DTYPE.FLOAT, ONNX_DTYPE.DOUBLE, ONNX_DTYPE.FLOAT16]);

export const isFloat = (t: OnnxTensor): boolean => FLOAT_TYPES.has(t.dataType);

export function constTensor(dims: number[], values: ArrayLike<number>, dataType: number, name = ''): OnnxTensor {
  const data = FLOAT_TYPES.has(dataType) ? Float32Array.from(values) : Float64Array.from(values);
  return { name, dims, data, dataType };
}

const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

/** Transposes an N-d array: `out.dims[i] = dims[perm[i]]`. */
export function transposeData(data: ArrayLike<number>, dims: readonly number[], perm: readonly number[], out: Float32Array | Float64Array): void {
  const n = dims.length;
  const inStrides = stridesOf(dims);
  const outDims = perm.map((p) => dims[p]);
  const total = size(outDims);
  const idx = new Array<number>(n).fill(0);
  const step = perm.map((p) => inStrides[p]);
  let src = 0;
  for (let o = 0; o < total; o++) {
    out[o] = data[src]!;
    for (let a = n - 1; a >= 0; a--) {
      idx[a]++;
      src += step[a];
      if (idx[a] < outDims[a]) break;
      src -= step[a] * outDims[a];
      idx[a] = 0;
    }
  }
}

function broadcast(a: OnnxTensor, b: OnnxTensor, f: (x: number, y: number) => number): OnnxTensor {
  const n = Math.max(a.dims.length, b.dims.length);
  const ad = [...new Array<number>(n - a.dims.length).fill(1), ...a.dims];
  const bd = [...new Array<number>(n - b.dims.length).fill(1), ...b.dims];
  const dims = ad.map((x, i) => Math.max(x, bd[i]));
  const as = stridesOf(ad).map((s, i) => (ad[i] === 1 ? 0 : s));
  const bs = stridesOf(bd).map((s, i) => (bd[i] === 1 ? 0 : s));
  const os = stridesOf(dims);
  const total = size(dims);
  const out: number[] = new Array<number>(total);
  for (let o = 0; o < total; o++) {
    let ai = 0; let bi = 0; let r = o;
    for (let k = 0; k < n; k++) {
      const q = Math.floor(r / os[k]);
      r -= q * os[k];
      ai += q * as[k]; bi += q * bs[k];
    }
    out[o] = f(a.data[ai], b.data[bi]);
  }
  return constTensor(dims, out, a.dataType);
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

function ints(t: OnnxTensor | undefined): number[] {
  return t === undefined ? [] : Array.from(t.data);
}

/** Options the evaluator needs from the graph: the opset and the (ONNX-layout) shape of a non-constant value. */
export interface ConstEvalContext {
  opset: number;
  attr(node: OnnxNode, name: string): OnnxAttribute | undefined;
}

/** Ops this module evaluates when every input is constant. */
export const CONST_OPS = new Set([
  'Constant', 'ConstantOfShape', 'Identity', 'Dropout', 'Cast', 'Gather', 'Unsqueeze', 'Squeeze', 'Concat',
  'Reshape', 'Slice', 'Transpose', 'Add', 'Sub', 'Mul', 'Div', 'Neg', 'Flatten', 'Range',
]);

/**
 * Evaluates `node` on constant inputs (`undefined` for an omitted optional input). Returns its outputs, or
 * `undefined` when the op is not one of {@link CONST_OPS}.
 */
export function evalConstNode(node: OnnxNode, inputs: Array<OnnxTensor | undefined>, opset: number): OnnxTensor[] | undefined {
  const a = node.attributes;
  const x = inputs[0];
  switch (node.opType) {
    case 'Constant': {
      const v = a.value ?? a.value_float ?? a.value_floats ?? a.value_int ?? a.value_ints;
      if (v === undefined) return undefined;
      if (typeof v === 'object' && !Array.isArray(v)) return [v];
      if (Array.isArray(v)) {
        const isF = a.value_floats !== undefined;
        return [constTensor([v.length], v as number[], isF ? ONNX_DTYPE.FLOAT : ONNX_DTYPE.INT64)];
      }
      return [constTensor([], [v as number], a.value_float !== undefined ? ONNX_DTYPE.FLOAT : ONNX_DTYPE.INT64)];
    }
    case 'ConstantOfShape': {
      const dims = ints(x);
      const v = a.value as OnnxTensor | undefined;
      const fill = v ? v.data[0] : 0;
      return [constTensor(dims, new Array<number>(size(dims)).fill(fill), v ? v.dataType : ONNX_DTYPE.FLOAT)];
    }
    case 'Identity': case 'Dropout':
      return x ? [x] : undefined;
    case 'Cast': {
      const to = a.to as number;
      const vals = FLOAT_TYPES.has(to) ? Array.from(x!.data) : Array.from(x!.data, (v) => (Number.isNaN(v) ? v : Math.trunc(v)));
      return [constTensor(x!.dims, vals, to)];
    }
    case 'Gather': {
      const axis = normAxis((a.axis as number | undefined) ?? 0, x!.dims.length);
      const idx = inputs[1]!;
      const outer = size(x!.dims.slice(0, axis));
      const inner = size(x!.dims.slice(axis + 1));
      const n = x!.dims[axis];
      const out: number[] = [];
      for (let o = 0; o < outer; o++) {
        for (const i of idx.data) {
          const j = i < 0 ? i + n : i;
          for (let k = 0; k < inner; k++) out.push(x!.data[(o * n + j) * inner + k]);
        }
      }
      return [constTensor([...x!.dims.slice(0, axis), ...idx.dims, ...x!.dims.slice(axis + 1)], out, x!.dataType)];
    }
    case 'Unsqueeze': {
      const axes = opset >= 13 ? ints(inputs[1]) : (a.axes as number[]);
      const rank = x!.dims.length + axes.length;
      const set = new Set(axes.map((ax) => normAxis(ax, rank)));
      const dims: number[] = [];
      let j = 0;
      for (let i = 0; i < rank; i++) dims.push(set.has(i) ? 1 : x!.dims[j++]);
      return [{ ...x!, dims }];
    }
    case 'Squeeze': {
      const axes = opset >= 13 ? ints(inputs[1]) : ((a.axes as number[] | undefined) ?? []);
      const set = new Set(axes.map((ax) => normAxis(ax, x!.dims.length)));
      const dims = x!.dims.filter((d, i) => (set.size === 0 ? d !== 1 : !set.has(i)));
      return [{ ...x!, dims }];
    }
    case 'Concat': {
      const parts = inputs.filter((t): t is OnnxTensor => t !== undefined);
      const rank = parts[0].dims.length;
      const axis = normAxis(a.axis as number, rank);
      const outer = size(parts[0].dims.slice(0, axis));
      const out: number[] = [];
      for (let o = 0; o < outer; o++) {
        for (const p of parts) {
          const chunk = size(p.dims.slice(axis));
          for (let k = 0; k < chunk; k++) out.push(p.data[o * chunk + k]);
        }
      }
      const dims = [...parts[0].dims];
      dims[axis] = parts.reduce((s, p) => s + p.dims[axis], 0);
      return [constTensor(dims, out, parts[0].dataType)];
    }
    case 'Reshape': {
      const target = ints(inputs[1]);
      const dims = resolveReshape(x!.dims, target);
      return dims ? [{ ...x!, dims }] : undefined;
    }
    case 'Flatten': {
      const axis = normAxis((a.axis as number | undefined) ?? 1, x!.dims.length);
      return [{ ...x!, dims: [size(x!.dims.slice(0, axis)), size(x!.dims.slice(axis))] }];
    }
    case 'Slice': {
      const rank = x!.dims.length;
      const starts = opset >= 10 ? ints(inputs[1]) : (a.starts as number[]);
      const ends = opset >= 10 ? ints(inputs[2]) : (a.ends as number[]);
      const axes = (opset >= 10 ? (inputs[3] ? ints(inputs[3]) : undefined) : (a.axes as number[] | undefined))
        ?? starts.map((_, i) => i);
      const steps = opset >= 10 && inputs[4] ? ints(inputs[4]) : starts.map(() => 1);
      let cur = x!;
      axes.forEach((ax0, i) => {
        const ax = normAxis(ax0, rank);
        const n = cur.dims[ax];
        const step = steps[i];
        const clampIdx = (v: number, lo: number, hi: number): number => Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
        const s = step > 0 ? clampIdx(starts[i], 0, n) : clampIdx(starts[i], -1, n - 1);
        const e = step > 0 ? clampIdx(ends[i], 0, n) : clampIdx(ends[i], -1, n - 1);
        const picks: number[] = [];
        for (let k = s; step > 0 ? k < e : k > e; k += step) picks.push(k);
        const idx = constTensor([picks.length], picks, ONNX_DTYPE.INT64);
        cur = evalConstNode({ ...node, opType: 'Gather', attributes: { axis: ax } }, [cur, idx], opset)![0]!;
      });
      return [cur];
    }
    case 'Transpose': {
      const rank = x!.dims.length;
      const perm = (a.perm as number[] | undefined) ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
      const out = isFloat(x!) ? new Float32Array(x!.data.length) : new Float64Array(x!.data.length);
      transposeData(x!.data, x!.dims, perm, out);
      return [{ ...x!, dims: perm.map((p) => x!.dims[p]), data: out }];
    }
    case 'Add': return [broadcast(x!, inputs[1]!, (p, q) => p + q)];
    case 'Sub': return [broadcast(x!, inputs[1]!, (p, q) => p - q)];
    case 'Mul': return [broadcast(x!, inputs[1]!, (p, q) => p * q)];
    case 'Div': return [broadcast(x!, inputs[1]!, isFloat(x!) ? (p, q) => p / q : (p, q) => Math.trunc(p / q))];
    case 'Neg': return [constTensor(x!.dims, Array.from(x!.data, (v) => -v), x!.dataType)];
    case 'Range': {
      const [s, l, d] = [x!.data[0], inputs[1]!.data[0], inputs[2]!.data[0]];
      const n = Math.max(Math.ceil((l - s) / d), 0);
      return [constTensor([n], Array.from({ length: n }, (_, i) => s + i * d), x!.dataType)];
    }
    default:
      return undefined;
  }
}

/**
 * Resolves an ONNX Reshape target against input dims (`0` copies the input's dim, `-1` is inferred). A NaN input
 * dim (the batch) stays NaN. Returns undefined when the target does not fit.
 */
export function resolveReshape(dims: readonly number[], target: readonly number[]): number[] | undefined {
  const out = target.map((t, i) => (t === 0 ? dims[i] : t));
  const known = dims.filter((d) => !Number.isNaN(d));
  const total = size(known);
  const batchIn = dims.some((d) => Number.isNaN(d));
  const infer = out.indexOf(-1);
  const rest = size(out.filter((d, i) => i !== infer && !Number.isNaN(d)));
  if (infer >= 0) {
    if (rest === 0 || total % rest !== 0) return undefined;
    out[infer] = total / rest;
  }
  const batchOut = out.some((d) => Number.isNaN(d));
  if (batchIn !== batchOut && !(batchIn && infer >= 0)) return undefined;
  return out;
}
