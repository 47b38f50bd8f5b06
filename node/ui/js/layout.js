// A layered layout for the dependency graph (Sugiyama, cut down): callers
// on the left, what they depend on to the right, each column ordered by
// the mean position of its neighbours so edges cross less. Deterministic:
// the same services always land in the same places.

export const NODE_W = 164;
export const NODE_H = 40;
const COL_W = 250;
const ROW_H = 58;
const SWEEPS = 6;

export function layered(names, edges) {
  const out = new Map(names.map((n) => [n, []]));
  const inn = new Map(names.map((n) => [n, []]));
  for (const e of edges) {
    if (e.from === e.to || !out.has(e.from) || !out.has(e.to)) continue;
    out.get(e.from).push(e.to);
    inn.get(e.to).push(e.from);
  }
  // Depth-first, ignoring edges back into the current path: a dependency
  // cycle still gets a layering instead of recursing forever.
  const rank = new Map();
  const onPath = new Set();
  const visit = (n) => {
    if (rank.has(n)) return rank.get(n);
    onPath.add(n);
    let r = 0;
    for (const d of out.get(n)) if (!onPath.has(d)) r = Math.max(r, visit(d) + 1);
    onPath.delete(n);
    rank.set(n, r);
    return r;
  };
  for (const n of [...names].sort()) visit(n);
  const maxRank = Math.max(0, ...rank.values());
  const layers = Array.from({ length: maxRank + 1 }, () => []);
  for (const n of [...names].sort()) layers[maxRank - rank.get(n)].push(n);

  const order = new Map();
  const place = () => layers.forEach((layer) => layer.forEach((n, i) => order.set(n, i)));
  place();
  const mean = (n, neighbours) => {
    const ps = neighbours.map((m) => order.get(m)).filter((p) => p !== undefined);
    return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : order.get(n);
  };
  for (let s = 0; s < SWEEPS; s++) {
    const forward = s % 2 === 0;
    const seq = forward ? layers : [...layers].reverse();
    for (const layer of seq) {
      const key = new Map(layer.map((n) => [n, mean(n, forward ? inn.get(n) : out.get(n))]));
      layer.sort((a, b) => key.get(a) - key.get(b) || (a < b ? -1 : 1));
      layer.forEach((n, i) => order.set(n, i));
    }
  }

  const tallest = Math.max(1, ...layers.map((l) => l.length));
  const pos = new Map();
  layers.forEach((layer, col) => {
    const offset = ((tallest - layer.length) * ROW_H) / 2;
    layer.forEach((n, i) => pos.set(n, { x: col * COL_W, y: offset + i * ROW_H }));
  });
  return { pos, width: (layers.length - 1) * COL_W + NODE_W, height: (tallest - 1) * ROW_H + NODE_H };
}

// Who is hit when ``name`` fails: every service that depends on it, directly
// or through others, with the depth at which it is reached.
export function impactOf(name, edges) {
  const callers = new Map();
  for (const e of edges) {
    if (!callers.has(e.to)) callers.set(e.to, []);
    callers.get(e.to).push(e.from);
  }
  const depth = new Map([[name, 0]]);
  const queue = [name];
  while (queue.length) {
    const n = queue.shift();
    for (const c of callers.get(n) || []) {
      if (!depth.has(c)) { depth.set(c, depth.get(n) + 1); queue.push(c); }
    }
  }
  depth.delete(name);
  return depth;
}
