/**
 * Reads an ONNX file (a protobuf `ModelProto`) with protobufjs into plain objects.
 *
 * The schema below declares only the messages and fields an import needs, with the field numbers of the ONNX
 * specification (`onnx.proto`, IR version 3 to 10); protobufjs skips every other field. Tensor payloads stay views
 * of the file's bytes (`raw_data`), so reading a 100 MB model does not copy the weights.
 */
import protobuf from 'protobufjs/light.js';
import { UnitAttackError } from '../../../errors.js';

const SCHEMA = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            modelVersion: { type: 'int64', id: 5 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
          },
        },
        OperatorSetIdProto: {
          fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            domain: { type: 'string', id: 7 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'int32', id: 20 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: 'repeated', type: 'float', id: 4 },
            int32Data: { rule: 'repeated', type: 'int32', id: 5 },
            int64Data: { rule: 'repeated', type: 'int64', id: 7 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
            doubleData: { rule: 'repeated', type: 'double', id: 10 },
            externalData: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 },
            dataLocation: { type: 'int32', id: 14 },
          },
        },
        StringStringEntryProto: {
          fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } },
        },
        ValueInfoProto: {
          fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } },
        },
        TypeProto: {
          fields: { tensorType: { type: 'TypeProtoTensor', id: 1 } },
        },
        TypeProtoTensor: {
          fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } },
        },
        TensorShapeProto: {
          fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } },
        },
        Dimension: {
          fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } },
        },
      },
    },
  },
};

let modelType: protobuf.Type | undefined;

/** ONNX `TensorProto.DataType` codes the importer reads. */
export const ONNX_DTYPE = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11 } as const;

/** A constant tensor of the graph (an initializer or a `Constant` node), as numbers. */
export interface OnnxTensor {
  name: string;
  dims: number[];
  /** Float tensors as float32, integer tensors as float64 (shapes and indices fit exactly). */
  data: Float32Array | Float64Array;
  /** The ONNX data type code. */
  dataType: number;
}

export type OnnxAttribute = number | string | number[] | string[] | OnnxTensor;

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, OnnxAttribute>;
}

export interface OnnxValueInfo {
  name: string;
  /** Dimensions; a symbolic or unknown dimension is `null`. */
  shape: Array<number | null> | null;
  elemType: number;
}

export interface OnnxModel {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  /** Opset version per domain (`''` is the default ONNX domain). */
  opsets: Map<string, number>;
  graph: {
    name: string;
    nodes: OnnxNode[];
    initializers: Map<string, OnnxTensor>;
    inputs: OnnxValueInfo[];
    outputs: OnnxValueInfo[];
  };
}

type Long = { toNumber(): number };
const num = (v: number | Long | null | undefined): number => (v == null ? 0 : typeof v === 'number' ? v : v.toNumber());

interface RawTensor {
  dims?: Array<number | Long>; dataType?: number; floatData?: number[]; int32Data?: number[]; int64Data?: Array<number | Long>;
  name?: string; rawData?: Uint8Array; doubleData?: number[]; externalData?: Array<{ key: string; value: string }>;
  dataLocation?: number;
}
interface RawAttribute {
  name: string; type?: number; f?: number; i?: number | Long; s?: Uint8Array; t?: RawTensor;
  floats?: number[]; ints?: Array<number | Long>; strings?: Uint8Array[];
}
interface RawNode { input?: string[]; output?: string[]; name?: string; opType?: string; domain?: string; attribute?: RawAttribute[] }
interface RawValueInfo {
  name?: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: Array<{ dimValue?: number | Long; dimParam?: string }> } } };
}
interface RawModel {
  irVersion?: number | Long; opsetImport?: Array<{ domain?: string; version?: number | Long }>;
  producerName?: string; producerVersion?: string;
  graph?: { node?: RawNode[]; name?: string; initializer?: RawTensor[]; input?: RawValueInfo[]; output?: RawValueInfo[] };
}

/**
 * Decodes ONNX bytes. Throws a `UA_INPUT` error when the bytes are not an ONNX model.
 *
 * @example
 * const model = decodeOnnx(await fs.readFile('resnet18.onnx'), 'resnet18.onnx');
 */
export function decodeOnnx(bytes: Uint8Array, file = 'the file'): OnnxModel {
  modelType ??= protobuf.Root.fromJSON(SCHEMA).lookupType('onnx.ModelProto');
  let raw: RawModel;
  try {
    raw = modelType.decode(bytes) as unknown as RawModel;
  } catch (err) {
    throw notOnnx(file, (err as Error).message, err);
  }
  if (!raw.graph || !raw.graph.node || raw.graph.node.length === 0 || num(raw.irVersion) <= 0) {
    throw notOnnx(file, 'it decodes as protobuf but has no IR version or no graph nodes');
  }
  const opsets = new Map<string, number>();
  for (const o of raw.opsetImport ?? []) opsets.set(o.domain ?? '', num(o.version));
  const g = raw.graph;
  const initializers = new Map<string, OnnxTensor>();
  for (const t of g.initializer ?? []) {
    const tensor = readTensor(t, file);
    initializers.set(tensor.name, tensor);
  }
  return {
    irVersion: num(raw.irVersion),
    producerName: raw.producerName ?? '',
    producerVersion: raw.producerVersion ?? '',
    opsets,
    graph: {
      name: g.name ?? '',
      nodes: (g.node ?? []).map((n) => readNode(n, file)),
      initializers,
      inputs: (g.input ?? []).map(readValueInfo),
      outputs: (g.output ?? []).map(readValueInfo),
    },
  };
}

function notOnnx(file: string, why: string, cause?: unknown): UnitAttackError {
  return new UnitAttackError('UA_INPUT', `${file} is neither an ONNX model nor a Keras HDF5 file (read as ONNX: ${why})`, {
    file, hint: 'give an .onnx file as torch.onnx.export writes it, or a Keras .h5 file',
    ...(cause === undefined ? {} : { cause }),
  });
}

function readValueInfo(v: RawValueInfo): OnnxValueInfo {
  const tt = v.type?.tensorType;
  const dims = tt?.shape?.dim;
  return {
    name: v.name ?? '',
    shape: dims === undefined ? null : dims.map((d) => (d.dimValue != null && num(d.dimValue) > 0 ? num(d.dimValue) : null)),
    elemType: tt?.elemType ?? 0,
  };
}

function readNode(n: RawNode, file: string): OnnxNode {
  const attributes: Record<string, OnnxAttribute> = {};
  for (const a of n.attribute ?? []) attributes[a.name] = readAttribute(a, file);
  return {
    name: n.name ?? '', opType: n.opType ?? '', domain: n.domain ?? '',
    inputs: n.input ?? [], outputs: n.output ?? [], attributes,
  };
}

const decoder = new TextDecoder();

function readAttribute(a: RawAttribute, file: string): OnnxAttribute {
  switch (a.type) {
    case 1: return a.f ?? 0;
    case 2: return num(a.i);
    case 3: return decoder.decode(a.s ?? new Uint8Array(0));
    case 4: return readTensor(a.t ?? {}, file);
    case 6: return a.floats ?? [];
    case 7: return (a.ints ?? []).map(num);
    case 8: return (a.strings ?? []).map((s) => decoder.decode(s));
    default:
      // Old files may leave `type` unset: take whichever field is present.
      if (a.ints && a.ints.length > 0) return a.ints.map(num);
      if (a.floats && a.floats.length > 0) return a.floats;
      if (a.t) return readTensor(a.t, file);
      if (a.s && a.s.length > 0) return decoder.decode(a.s);
      if (a.i != null) return num(a.i);
      return a.f ?? 0;
  }
}

function readTensor(t: RawTensor, file: string): OnnxTensor {
  const name = t.name ?? '';
  const dims = (t.dims ?? []).map(num);
  const size = dims.reduce((a, b) => a * b, 1);
  const dataType = t.dataType ?? 0;
  if (t.dataLocation === 1 || (t.externalData && t.externalData.length > 0)) {
    throw new UnitAttackError('UA_INPUT', `${file}: tensor '${name}' keeps its data in an external file, which the importer does not read`, {
      file, hint: 'export with the weights inside the .onnx file (models under 2 GB), e.g. onnx.save(onnx.load(f), f2, save_as_external_data=False)',
    });
  }
  const raw = t.rawData;
  const hasRaw = raw !== undefined && raw.byteLength > 0;
  let data: Float32Array | Float64Array;
  switch (dataType) {
    case ONNX_DTYPE.FLOAT:
      if (hasRaw) data = view(raw, Float32Array, size, 4);
      else data = Float32Array.from(t.floatData ?? []);
      break;
    case ONNX_DTYPE.DOUBLE:
      data = Float32Array.from(hasRaw ? view(raw, Float64Array, size, 8) : (t.doubleData ?? []));
      break;
    case ONNX_DTYPE.FLOAT16:
      data = hasRaw ? halfToFloat(view(raw, Uint16Array, size, 2)) : halfToFloat(Uint16Array.from(t.int32Data ?? []));
      break;
    case ONNX_DTYPE.INT64:
      if (hasRaw) {
        const big = view(raw, BigInt64Array, size, 8);
        data = Float64Array.from(big, (b) => Number(b));
      } else data = Float64Array.from((t.int64Data ?? []).map(num));
      break;
    case ONNX_DTYPE.INT32: case ONNX_DTYPE.INT8: case ONNX_DTYPE.UINT8: case ONNX_DTYPE.BOOL:
      if (hasRaw) {
        data = dataType === ONNX_DTYPE.INT32 ? Float64Array.from(view(raw, Int32Array, size, 4))
          : dataType === ONNX_DTYPE.INT8 ? Float64Array.from(view(raw, Int8Array, size, 1))
            : Float64Array.from(view(raw, Uint8Array, size, 1));
      } else data = Float64Array.from(t.int32Data ?? []);
      break;
    default:
      throw new UnitAttackError('UA_INPUT', `${file}: tensor '${name}' has ONNX data type ${dataType}, which the importer does not read`, {
        file, hint: 'the importer reads float32, float16, float64 and integer tensors',
      });
  }
  if (data.length !== size) {
    throw new UnitAttackError('UA_INPUT', `${file}: tensor '${name}' has ${data.length} values for dims ${JSON.stringify(dims)}`, { file });
  }
  return { name, dims, data, dataType };
}

type TypedCtor<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; new (length: number): T };

/** A typed view of `bytes` when aligned, else an aligned copy. ONNX raw data is little-endian, as are the hosts Node runs on. */
function view<T extends { set(a: ArrayLike<number> | ArrayLike<bigint>): void }>(bytes: Uint8Array, C: TypedCtor<T>, size: number, width: number): T {
  if (bytes.byteLength !== size * width) {
    throw new UnitAttackError('UA_INPUT', `a tensor's raw data has ${bytes.byteLength} bytes, expected ${size * width}`);
  }
  if (bytes.byteOffset % width === 0) return new C(bytes.buffer, bytes.byteOffset, size);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new C(copy.buffer, 0, size);
}

function halfToFloat(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const v = h[i];
    const s = v & 0x8000 ? -1 : 1;
    const e = (v >> 10) & 0x1f;
    const f = v & 0x3ff;
    out[i] = e === 0 ? s * 2 ** -14 * (f / 1024) : e === 31 ? (f ? NaN : s * Infinity) : s * 2 ** (e - 15) * (1 + f / 1024);
  }
  return out;
}
