/**
 * Layer names of imported models: ONNX node names made valid for TensorFlow.js, kept unique, and the aliases that
 * let a user name a layer the way the source framework does (`layer4`, `features.29`, an ONNX output name).
 */

/** TensorFlow.js accepts tensor (and so weight) names matching this. */
const VALID = /^[A-Za-z0-9][-A-Za-z0-9._/]*$/;

/**
 * A valid TensorFlow.js layer name for `name`: leading characters TF.js refuses are dropped and other invalid
 * characters become `_`. `/conv1/Conv` → `conv1/Conv`; `onnx::Conv_57` → `onnx__Conv_57`.
 */
export function sanitizeLayerName(name: string, fallback: string): string {
  if (VALID.test(name)) return name;
  const s = name.replace(/[^-A-Za-z0-9._/]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return s === '' ? fallback : s;
}

/** Hands out unique layer names. */
export class NameTable {
  private readonly used = new Set<string>();

  /** `base` if free, else `base_2`, `base_3`… */
  unique(base: string): string {
    let name = base;
    for (let i = 2; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  has(name: string): boolean {
    return this.used.has(name);
  }
}

/**
 * The module path of a node that `torch.onnx.export` (1.13+) named by scope, e.g. `/layer4/layer4.1/conv1/Conv` →
 * `['layer4', 'layer4.1', 'layer4.1.conv1']`: every enclosing module, outermost first, as `named_modules()` names it. Names without scopes give `[]`.
 */
export function modulePaths(nodeName: string): string[] {
  if (!nodeName.startsWith('/')) return [];
  const parts = nodeName.split('/').filter((p) => p !== '');
  parts.pop(); // the op itself, e.g. `Conv` or `Relu_1`
  // A numbered child repeats its parent's attribute name: /layer2/layer2.0/downsample/downsample.0/Conv.
  const out: string[] = [];
  let path = '';
  let last = '';
  for (const p of parts) {
    path = path === '' ? p : p.startsWith(last + '.') ? path + p.slice(last.length) : `${path}.${p}`;
    last = p;
    out.push(path);
  }
  return out;
}

/** What {@link moduleAliases} needs of a node. */
export interface AliasNode {
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
}

/**
 * Aliases from module paths to the value each module outputs: the one value produced inside the module and used
 * outside it (or a graph output). Modules with several such values (or none) get no alias.
 *
 * @returns module path → ONNX value name
 */
export function moduleAliases(nodes: readonly AliasNode[], graphOutputs: readonly string[]): Map<string, string> {
  const moduleOf = new Map<string, string[]>(); // value name → module paths of its producer
  const members = new Map<string, AliasNode[]>(); // module path → its nodes
  for (const n of nodes) {
    const paths = modulePaths(n.name);
    for (const o of n.outputs) moduleOf.set(o, paths);
    for (const p of paths) {
      const list = members.get(p) ?? [];
      list.push(n);
      members.set(p, list);
    }
  }
  const usedBy = new Map<string, AliasNode[]>();
  for (const n of nodes) {
    for (const i of n.inputs) {
      const list = usedBy.get(i) ?? [];
      list.push(n);
      usedBy.set(i, list);
    }
  }
  const outputs = new Set(graphOutputs);
  const out = new Map<string, string>();
  for (const [path, list] of members) {
    const exits = new Set<string>();
    for (const n of list) {
      for (const o of n.outputs) {
        if (o === '') continue;
        const users = usedBy.get(o) ?? [];
        const leaves = outputs.has(o) || users.some((u) => !modulePaths(u.name).includes(path));
        if (leaves) exits.add(o);
      }
    }
    if (exits.size === 1) out.set(path, [...exits][0]);
  }
  return out;
}
