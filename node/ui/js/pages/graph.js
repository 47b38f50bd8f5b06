// The dependency graph, drawn in SVG: pan by dragging, zoom with the wheel,
// click a service to highlight everything that depends on it. Built from the
// instances' `dependencies` now, and from GET /v1/graph where the node has it.

import { h, svg, serviceHref } from '../dom.js';
import { features, getJSON } from '../api.js';
import { layered, impactOf, NODE_W, NODE_H } from '../layout.js';

const GRAPH_REFRESH_MS = 5000;

// {nodes: [{name, counts, missing, protected}], edges: [{from, to, satisfied, degraded}]}
function fromRegistry(registry) {
  const sums = registry.summaries();
  const nodes = new Map();
  for (const s of sums.values()) nodes.set(s.name, { name: s.name, counts: s.counts, missing: false });
  const edges = [];
  for (const s of sums.values()) {
    for (const d of s.deps) {
      if (!nodes.has(d)) nodes.set(d, { name: d, counts: { up: 0, unhealthy: 0, down: 0 }, missing: true });
      const c = sums.get(d)?.counts;
      edges.push({ from: s.name, to: d, satisfied: !!c && c.up > 0, degraded: !!c && c.up > 0 && (c.down + c.unhealthy) > 0 });
    }
  }
  return { nodes: [...nodes.values()], edges };
}

function fromApi(graph, registry) {
  const sums = registry.summaries();
  const nodes = graph.nodes.map((n) => ({ ...n, counts: n.counts || sums.get(n.name)?.counts || {}, missing: !sums.has(n.name) && !n.counts }));
  const edges = graph.edges.map((e) => {
    const c = sums.get(e.to)?.counts;
    return { ...e, satisfied: e.satisfied !== false, degraded: e.satisfied !== false && !!c && (c.down + c.unhealthy) > 0 };
  });
  return { nodes, edges };
}

function health(n) {
  if (n.missing) return 'missing';
  const c = n.counts || {};
  if (!(c.up > 0)) return 'dead';
  return (c.down || 0) + (c.unhealthy || 0) > 0 ? 'degraded' : 'ok';
}

export function mount(root, ctx) {
  const { registry } = ctx;
  const viewport = svg('g', { class: 'viewport' });
  const canvas = svg('svg', { role: 'img', 'aria-label': 'service dependency graph' },
    svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' },
      svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))), viewport);
  const side = h('aside', { class: 'panel side' }, h('p', { class: 'muted', text: 'Click a service to see what depends on it.' }));
  const search = h('input', { type: 'search', placeholder: 'find a service', 'aria-label': 'find a service',
    onchange: (e) => { if (data.nodes.some((n) => n.name === e.target.value)) select(e.target.value, true); } });
  const tools = h('div', { class: 'tools' },
    h('button', { type: 'button', title: 'zoom in', text: '+', onclick: () => zoomBy(1.25) }),
    h('button', { type: 'button', title: 'zoom out', text: '−', onclick: () => zoomBy(0.8) }),
    h('button', { type: 'button', title: 'fit to view', text: 'fit', onclick: () => fit() }),
    h('button', { type: 'button', title: 'clear selection', text: 'clear', onclick: () => select(null) }));
  const box = h('div', { class: 'graph' }, canvas, tools);
  const legend = h('div', { class: 'legend' }, h('span', {}, h('i'), 'depends on'), h('span', {}, h('i', { class: 'degraded' }), 'dependency degraded'),
    h('span', {}, h('i', { class: 'unhealthy' }), 'dependency down or missing'), h('span', { class: 'source' }));
  root.append(h('section', { class: 'page graph-page' }, h('div', { class: 'row panel' }, search, legend),
    h('div', { class: 'split' }, box, side)));

  let data = { nodes: [], edges: [] };
  let layout = null;
  let shapeKey = '';
  let view = { x: 20, y: 20, k: 1 };
  let selected = null;
  let apiGraph = ctx.graph;
  const els = new Map();

  const apply = () => viewport.setAttribute('transform', `translate(${view.x},${view.y}) scale(${view.k})`);
  function zoomBy(f, cx = canvas.clientWidth / 2, cy = canvas.clientHeight / 2) {
    const k = Math.min(4, Math.max(0.05, view.k * f));
    view = { k, x: cx - ((cx - view.x) * k) / view.k, y: cy - ((cy - view.y) * k) / view.k };
    apply();
  }
  function fit() {
    if (!layout) return;
    const w = canvas.clientWidth || 800;
    const hgt = canvas.clientHeight || 500;
    const k = Math.min(1.5, Math.max(0.05, Math.min((w - 40) / layout.width, (hgt - 40) / layout.height)));
    view = { k, x: (w - layout.width * k) / 2, y: (hgt - layout.height * k) / 2 };
    apply();
  }

  canvas.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const r = canvas.getBoundingClientRect();
    zoomBy(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
  let drag = null;
  canvas.addEventListener('pointerdown', (ev) => {
    if (ev.target.closest('.gnode')) return;
    drag = { x: ev.clientX - view.x, y: ev.clientY - view.y };
    canvas.setPointerCapture(ev.pointerId);
    canvas.classList.add('dragging');
  });
  canvas.addEventListener('pointermove', (ev) => {
    if (!drag) return;
    view.x = ev.clientX - drag.x;
    view.y = ev.clientY - drag.y;
    apply();
  });
  const endDrag = () => { drag = null; canvas.classList.remove('dragging'); };
  canvas.addEventListener('pointerup', endDrag);
  canvas.addEventListener('pointercancel', endDrag);

  function draw() {
    const key = data.nodes.map((n) => n.name).sort().join(',') + '|' + data.edges.map((e) => `${e.from}>${e.to}`).sort().join(',');
    if (key !== shapeKey) {
      shapeKey = key;
      layout = layered(data.nodes.map((n) => n.name), data.edges);
      els.clear();
      const edgeLayer = svg('g', { class: 'edges' });
      const nodeLayer = svg('g', { class: 'nodes' });
      for (const e of data.edges) {
        const a = layout.pos.get(e.from);
        const b = layout.pos.get(e.to);
        if (!a || !b || e.from === e.to) continue;
        const x1 = a.x + NODE_W; const y1 = a.y + NODE_H / 2; const x2 = b.x; const y2 = b.y + NODE_H / 2;
        const back = x2 <= x1; // an edge of a cycle (or within a column) bends around
        const mid = back ? Math.max(x1, x2 + NODE_W) + 60 : (x1 + x2) / 2;
        const d = back ? `M${x1},${y1} C${mid},${y1} ${mid},${y2 - 40} ${x2 + NODE_W / 2},${y2 - NODE_H / 2}`
          : `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
        const path = svg('path', { class: 'gedge', d, 'marker-end': 'url(#arrow)', dataset: { from: e.from, to: e.to } });
        path.append(svg('title', { text: `${e.from} depends on ${e.to}` }));
        els.set(`${e.from}>${e.to}`, path);
        edgeLayer.append(path);
      }
      for (const n of data.nodes) {
        const p = layout.pos.get(n.name);
        const g = svg('g', { class: 'gnode', transform: `translate(${p.x},${p.y})`, dataset: { service: n.name }, tabindex: '0' },
          svg('rect', { width: NODE_W, height: NODE_H, rx: '7' }),
          svg('text', { x: '10', y: '17', text: n.name.length > 22 ? `${n.name.slice(0, 21)}…` : n.name }),
          svg('text', { x: '10', y: '32', class: 'sub' }), svg('title', { text: n.name }));
        g.addEventListener('click', () => select(n.name));
        g.addEventListener('dblclick', () => { location.hash = serviceHref(n.name); });
        g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') select(n.name); });
        els.set(n.name, g);
        nodeLayer.append(g);
      }
      viewport.replaceChildren(edgeLayer, nodeLayer);
      fit();
    }
    for (const n of data.nodes) {
      const g = els.get(n.name);
      const state = health(n);
      g.classList.toggle('missing', state === 'missing');
      g.classList.toggle('dead', state === 'dead');
      g.classList.toggle('degraded', state === 'degraded');
      g.classList.toggle('protected', !!n.protected);
      g.dataset.health = state;
      const c = n.counts || {};
      g.querySelector('.sub').textContent = n.missing ? 'not registered'
        : `${c.up || 0} up · ${c.unhealthy || 0} unh. · ${c.down || 0} down${n.protected ? ' · protected' : ''}`;
    }
    for (const e of data.edges) {
      const path = els.get(`${e.from}>${e.to}`);
      if (!path) continue;
      path.classList.toggle('unhealthy', !e.satisfied);
      path.classList.toggle('degraded', e.satisfied && e.degraded);
    }
    legend.querySelector('.source').textContent = apiGraph ? 'from GET /v1/graph' : 'from the instances\u2019 dependencies';
    highlight();
  }

  async function highlight() {
    viewport.classList.toggle('dim', !!selected);
    for (const el of els.values()) el.classList.remove('hl', 'sel');
    if (!selected || !els.has(selected)) return;
    let impacted = impactOf(selected, data.edges);
    if (apiGraph && features.graph) {
      try {
        const r = await getJSON(`/v1/graph/impact/${encodeURIComponent(selected)}`);
        impacted = new Map(r.body.impacted.map((i) => [i.name, i.depth]));
      } catch { /* the local computation stands */ }
    }
    els.get(selected).classList.add('hl', 'sel');
    for (const name of impacted.keys()) els.get(name)?.classList.add('hl');
    for (const e of data.edges) if ((impacted.has(e.from) || e.from === selected) && (impacted.has(e.to) || e.to === selected)) els.get(`${e.from}>${e.to}`)?.classList.add('hl');
    const byDepth = [...impacted].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
    side.replaceChildren(h('h2', {}, h('a', { href: serviceHref(selected), text: selected })),
      h('p', { class: 'impact-count', text: `${impacted.size} service${impacted.size === 1 ? '' : 's'} depend on it, directly or not` }),
      h('dl', { class: 'kv' }, byDepth.flatMap(([n, d]) => [h('dt', { text: `depth ${d}` }), h('dd', {}, h('a', { href: serviceHref(n), text: n }))])));
  }

  function select(name, center = false) {
    selected = name;
    if (!name) side.replaceChildren(h('p', { class: 'muted', text: 'Click a service to see what depends on it.' }));
    highlight();
    if (center && layout?.pos.get(name)) {
      const p = layout.pos.get(name);
      view = { k: 1, x: canvas.clientWidth / 2 - p.x - NODE_W / 2, y: canvas.clientHeight / 2 - p.y - NODE_H / 2 };
      apply();
    }
  }

  async function update() {
    data = apiGraph ? fromApi(apiGraph, registry) : fromRegistry(registry);
    draw();
  }

  // The graph the app fetched at start is stale by the time this page opens:
  // fetch on open, then at most once per GRAPH_REFRESH_MS, with a trailing
  // fetch so the last change inside a throttled window is not lost.
  let lastFetch = 0;
  let trailing = null;
  async function refetch() {
    trailing = null;
    lastFetch = Date.now();
    apiGraph = (await getJSON('/v1/graph').catch(() => null))?.body || apiGraph;
    update();
  }
  const unsubscribe = registry.subscribe(() => {
    if (features.graph) {
      const wait = GRAPH_REFRESH_MS - (Date.now() - lastFetch);
      if (wait <= 0) refetch();
      else if (!trailing) trailing = setTimeout(refetch, wait);
    }
    update();
  });
  update();
  if (apiGraph && features.graph) refetch();
  return () => { unsubscribe(); if (trailing) clearTimeout(trailing); };
}
