/**
 * Diff of two V8 heap snapshots (.heapsnapshot, as node:v8 writeHeapSnapshot writes them), for
 * ws-memory-probe.ts: what N more connections hold, per connection.
 *
 * - By constructor: instance count and self size (shallow), full minus base.
 * - By owner: the dominator tree of each snapshot (weak edges ignored); every object is charged to
 *   its nearest dominator that is an instance of an OWNER class (itself included), else to
 *   "(unowned) <its own constructor>". So "WebSocket" is what a WebSocket alone keeps alive, not
 *   counting what is charged to a nearer owner inside it (its Receiver, Sender, net.Socket...).
 */
import { readFileSync } from 'node:fs';

/** Constructors (and closures, as "closure <name>") that bytes are charged to in the by-owner view. */
const OWNERS = new Set([
  'WebSocket',
  'Receiver',
  'Sender',
  'Socket',
  'TCP',
  'IncomingMessage',
  'ServerResponse',
  'HTTPParser',
  'Timeout',
  'WriteWrap',
  'ShutdownWrap',
  'AsyncResource',
]);

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] }; node_count: number };
  nodes: number[];
  edges: number[];
  strings: string[];
  locations?: number[];
}

export interface Bucket {
  count: number;
  size: number;
}

export interface Summary {
  byConstructor: Map<string, Bucket>;
  byOwner: Map<string, Bucket>;
  total: number;
}

function summarize(path: string): Summary {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const { meta } = snap.snapshot;
  const nf = meta.node_fields.length;
  const ef = meta.edge_fields.length;
  const typeOf = meta.node_fields.indexOf('type');
  const nameOf = meta.node_fields.indexOf('name');
  const sizeOf = meta.node_fields.indexOf('self_size');
  const edgeCountOf = meta.node_fields.indexOf('edge_count');
  const edgeTypeOf = meta.edge_fields.indexOf('type');
  const toOf = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const weak = edgeTypes.indexOf('weak');
  const { nodes, edges, strings } = snap;
  const count = nodes.length / nf;

  const label = new Array<string>(count);
  const size = new Float64Array(count);
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    const type = nodeTypes[nodes[i * nf + typeOf]!]!;
    const name = strings[nodes[i * nf + nameOf]!]!;
    if (type === 'object' || type === 'native') label[i] = name;
    else if (type === 'closure') label[i] = `closure ${name || '(anonymous)'}`;
    else if (type === 'hidden' || type === 'object shape') label[i] = `(system) ${name.replace(/\s*@\d+$/, '')}`;
    else label[i] = `(${type})`;
    size[i] = nodes[i * nf + sizeOf]!;
    firstEdge[i] = e;
    e += nodes[i * nf + edgeCountOf]! * ef;
    firstEdge[i + 1] = e;
  }

  // Closures get their source location: "closure name file:line".
  const edgeNameOf = meta.edge_fields.indexOf('name_or_index');
  const locationOf = new Map<number, number>();
  const loc = snap.locations ?? [];
  for (let i = 0; i + 3 < loc.length; i += 4) locationOf.set(loc[i]! / nf, loc[i + 2]! + 1);
  const child = (v: number, name: string): number => {
    for (let e = firstEdge[v]!; e < firstEdge[v + 1]!; e += ef) {
      const t = edgeTypes[edges[e + edgeTypeOf]!];
      if (t !== 'element' && t !== 'hidden' && strings[edges[e + edgeNameOf]!] === name) return edges[e + toOf]! / nf;
    }
    return -1;
  };
  for (let i = 0; i < count; i++) {
    if (!label[i]!.startsWith('closure ')) continue;
    const shared = child(i, 'shared');
    const script = shared >= 0 ? child(shared, 'script') : -1;
    const file = script >= 0 ? child(script, 'name') : -1;
    const where = file >= 0 ? strings[nodes[file * nf + nameOf]!]!.replace(/^.*\/(node_modules|src|scripts)\//, '$1/') : '?';
    label[i] = `${label[i]} ${where}:${locationOf.get(i) ?? '?'}`;
  }

  // Post-order from the root (node 0), iteratively.
  const post = new Int32Array(count).fill(-1);
  const order: number[] = [];
  const visited = new Uint8Array(count);
  const stack: number[] = [0];
  const cursor = new Uint32Array(count);
  visited[0] = 1;
  for (let i = 0; i < count; i++) cursor[i] = firstEdge[i]!;
  while (stack.length > 0) {
    const v = stack[stack.length - 1]!;
    let pushed = false;
    while (cursor[v]! < firstEdge[v + 1]!) {
      const e = cursor[v]!;
      cursor[v] = e + ef;
      if (edges[e + edgeTypeOf] === weak) continue;
      const w = edges[e + toOf]! / nf;
      if (visited[w]) continue;
      visited[w] = 1;
      stack.push(w);
      pushed = true;
      break;
    }
    if (!pushed) {
      stack.pop();
      post[v] = order.length;
      order.push(v);
    }
  }

  // Predecessors (strong edges between reachable nodes), compressed.
  const predCount = new Uint32Array(count + 1);
  for (let v = 0; v < count; v++) {
    if (!visited[v]) continue;
    for (let e = firstEdge[v]!; e < firstEdge[v + 1]!; e += ef) if (edges[e + edgeTypeOf] !== weak) predCount[edges[e + toOf]! / nf + 1]! += 1;
  }
  for (let i = 0; i < count; i++) predCount[i + 1]! += predCount[i]!;
  const preds = new Uint32Array(predCount[count]!);
  const fill = predCount.slice(0, count);
  for (let v = 0; v < count; v++) {
    if (!visited[v]) continue;
    for (let e = firstEdge[v]!; e < firstEdge[v + 1]!; e += ef) if (edges[e + edgeTypeOf] !== weak) preds[fill[edges[e + toOf]! / nf]!++] = v;
  }

  // Dominators: Cooper, Harvey and Kennedy, on post-order numbers.
  const idom = new Int32Array(count).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (post[a]! < post[b]!) a = idom[a]!;
      while (post[b]! < post[a]!) b = idom[b]!;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = order.length - 2; k >= 0; k--) {
      const v = order[k]!;
      let dom = -1;
      for (let p = predCount[v]!; p < predCount[v + 1]!; p++) {
        const u = preds[p]!;
        if (idom[u] === -1) continue;
        dom = dom === -1 ? u : intersect(u, dom);
      }
      if (dom !== -1 && idom[v] !== dom) {
        idom[v] = dom;
        changed = true;
      }
    }
  }

  const byConstructor = new Map<string, Bucket>();
  const byOwner = new Map<string, Bucket>();
  const add = (map: Map<string, Bucket>, key: string, bytes: number) => {
    const bucket = map.get(key) ?? { count: 0, size: 0 };
    bucket.count += 1;
    bucket.size += bytes;
    map.set(key, bucket);
  };
  const owner = new Array<string | null>(count).fill(null);
  let total = 0;
  // Reverse post-order: every dominator before what it dominates.
  for (let k = order.length - 1; k >= 0; k--) {
    const v = order[k]!;
    const isOwner = OWNERS.has(label[v]!) || label[v]!.startsWith('closure ');
    owner[v] = isOwner ? label[v]! : v === 0 ? null : owner[idom[v]!]!;
    add(byConstructor, label[v]!, size[v]!);
    add(byOwner, owner[v] ?? `(unowned) ${label[v]}`, size[v]!);
    total += size[v]!;
  }
  return { byConstructor, byOwner, total };
}

export interface Diff {
  total: number;
  byConstructor: Array<[string, Bucket]>;
  byOwner: Array<[string, Bucket]>;
}

function minus(full: Map<string, Bucket>, base: Map<string, Bucket>): Array<[string, Bucket]> {
  const keys = new Set([...full.keys(), ...base.keys()]);
  const rows: Array<[string, Bucket]> = [];
  for (const key of keys) {
    const a = base.get(key) ?? { count: 0, size: 0 };
    const b = full.get(key) ?? { count: 0, size: 0 };
    rows.push([key, { count: b.count - a.count, size: b.size - a.size }]);
  }
  return rows.sort((x, y) => Math.abs(y[1].size) - Math.abs(x[1].size));
}

export function diffSnapshots(basePath: string, fullPath: string): Diff {
  const base = summarize(basePath);
  const full = summarize(fullPath);
  return { total: full.total - base.total, byConstructor: minus(full.byConstructor, base.byConstructor), byOwner: minus(full.byOwner, base.byOwner) };
}

export function formatDiff(diff: Diff, per: number, top: number): string {
  const row = ([key, b]: [string, Bucket]) => `  ${(b.size / per).toFixed(1).padStart(9)} B  ${(b.count / per).toFixed(2).padStart(7)} objs  ${key}`;
  return [
    `reachable heap, per connection: ${(diff.total / per).toFixed(1)} B`,
    'by owner (nearest owning dominator), per connection:',
    ...diff.byOwner.slice(0, top).map(row),
    'by constructor (self size), per connection:',
    ...diff.byConstructor.slice(0, top).map(row),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [base, full, per = '1', top = '40'] = process.argv.slice(2);
  if (!base || !full) throw new Error('usage: heap-diff.ts BASE.heapsnapshot FULL.heapsnapshot [per] [top]');
  console.log(formatDiff(diffSnapshots(base, full), Number(per), Number(top)));
}
