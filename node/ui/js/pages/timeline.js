// Health over the last hour: one lane per service that changed, each a
// stacked step chart of the share of its instances up / unhealthy / down,
// with a tick under it for every change. Built from the watch history.

import { h, svg, clockTime, debounce, serviceHref } from '../dom.js';
import { clock } from '../api.js';
import { WINDOW_MS } from '../history.js';

const LABEL_W = 190;
const RIGHT_W = 110;
const LANE_H = 34;
const AXIS_H = 24;
const MAX_LANES = 80; // more than this is a list to filter, not a chart to read
const ORDER = ['up', 'unhealthy', 'down'];

// Stacked step areas of the shares by status, from (t, counts) points.
function areas(lane, x, y0, height, from, to) {
  const steps = [{ t: from, counts: lane.start }, ...lane.points, { t: to, counts: null }];
  const paths = { up: '', unhealthy: '', down: '', other: '' };
  for (let i = 0; i < steps.length - 1; i++) {
    const { counts } = steps[i];
    const xa = x(Math.max(from, steps[i].t));
    const xb = x(steps[i + 1].t);
    if (xb <= xa || !counts) continue;
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (!total) continue;
    let acc = 0;
    for (const [status, n] of Object.entries(counts)) {
      if (!n) continue;
      const key = ORDER.includes(status) ? status : 'other';
      const top = y0 + height - ((acc + n) / total) * height;
      const hgt = (n / total) * height;
      // Half a pixel of overlap: adjacent steps would otherwise show hairline gaps.
      const w = (xb - xa + 0.5).toFixed(1);
      paths[key] += `M${xa.toFixed(1)},${top.toFixed(1)}h${w}v${hgt.toFixed(1)}h-${w}z`;
      acc += n;
    }
  }
  return Object.entries(paths).filter(([, d]) => d).map(([k, d]) => svg('path', { class: `a-${k}`, d }));
}

// One tick per pixel column and kind: a burst of 2,000 registrations is a mark, not 2,000 nodes.
function ticks(lane, x, y) {
  const buckets = new Map();
  for (const c of lane.changes) {
    const key = `${Math.round(x(c.t))}:${c.kind}`;
    const b = buckets.get(key) || { x: Math.round(x(c.t)), kind: c.kind, n: 0, last: c };
    b.n++;
    b.last = c;
    buckets.set(key, b);
  }
  return [...buckets.values()].map((b) => svg('line', { class: `tick ${b.kind}`, x1: b.x, x2: b.x, y1: y, y2: y + 6 },
    svg('title', { text: b.n === 1 ? `${clockTime(b.last.t)} ${b.kind} ${b.last.id}: ${b.last.before || '—'} → ${b.last.after || 'removed'}`
      : `${clockTime(b.last.t)}: ${b.n} × ${b.kind}` })));
}

export function mount(root, ctx) {
  const { timeline } = ctx;
  const state = h('span', { class: 'muted' });
  let filter = '';
  const input = h('input', { type: 'search', placeholder: 'filter services', 'aria-label': 'filter services',
    oninput: debounce((e) => { filter = e.target.value.trim(); render(); }, 150) });
  const chart = h('div', { class: 'chart' });
  // The hour is the record; a shorter span makes a recent incident readable.
  let span = WINDOW_MS;
  const spans = [[5, '5 min'], [15, '15 min'], [60, '1 hour']].map(([m, label]) => h('button', {
    type: 'button', class: m * 60000 === span ? 'on' : '', dataset: { span: m }, text: label,
    onclick: (e) => { span = m * 60000; for (const b of spans) b.classList.toggle('on', b === e.target); render(); } }));
  root.append(h('section', { class: 'page timeline' },
    h('div', { class: 'row panel' }, h('h1', { text: 'Health timeline' }), ...spans, input, state), chart));

  function render() {
    const to = clock.now();
    const from = to - span;
    const width = Math.max(600, chart.clientWidth - 2);
    const plotW = width - LABEL_W - RIGHT_W;
    const x = (t) => LABEL_W + ((t - from) / span) * plotW;
    const all = timeline.series(from, true).get('*');
    let lanes = [...timeline.series(from).values()].filter((l) => !filter || l.name.includes(filter))
      .sort((a, b) => b.changes.length - a.changes.length || (a.name < b.name ? -1 : 1));
    const more = Math.max(0, lanes.length - MAX_LANES);
    lanes = lanes.slice(0, MAX_LANES);
    const rows = [{ ...all, label: 'all services' }, ...lanes];
    const height = AXIS_H + rows.length * LANE_H + 8;
    const out = svg('svg', { width, height, role: 'img', 'aria-label': 'health timeline' });
    const axis = svg('g', { class: 'axis' });
    const minutes = span / 60000;
    const parts = minutes === 60 ? 6 : 5;
    for (let k = 0; k <= parts; k++) {
      const t = from + (k * span) / parts;
      const ago = minutes - (k * minutes) / parts;
      axis.append(svg('line', { class: 'grid', x1: x(t), x2: x(t), y1: AXIS_H - 4, y2: height }),
        svg('text', { x: x(t), y: 14, 'text-anchor': k ? 'middle' : 'start', text: k === parts ? 'now' : `-${ago} min` }));
    }
    out.append(axis);
    const known = timeline.knownFrom;
    if (known != null && known > from) {
      out.append(svg('rect', { class: 'unknown', x: LABEL_W, y: AXIS_H, width: x(known) - LABEL_W, height: height - AXIS_H },
        svg('title', { text: 'before the oldest change this node still keeps (--watch-history)' })));
    }
    const start = known != null ? Math.max(from, known) : from;
    rows.forEach((lane, i) => {
      const y0 = AXIS_H + i * LANE_H;
      const g = svg('g', { class: 'lane', dataset: { service: lane.label ? '*' : lane.name } });
      const label = svg('text', { class: 'lane-label name', x: 6, y: y0 + 15, text: lane.label || lane.name });
      if (!lane.label) label.addEventListener('click', () => { location.hash = serviceHref(lane.name); });
      g.append(label, svg('text', { class: 'lane-label', x: 6, y: y0 + 28, text: `${lane.changes.length} changes` }));
      g.append(...areas(lane, x, y0 + 3, LANE_H - 14, start, to), ...ticks(lane, x, y0 + LANE_H - 10));
      const n = lane.now;
      g.append(svg('text', { class: 'lane-label', x: width - RIGHT_W + 8, y: y0 + 18,
        text: `${n.up || 0} / ${n.unhealthy || 0} / ${n.down || 0}` }));
      out.append(g);
    });
    chart.replaceChildren(out);
    const total = all.changes.length;
    state.textContent = `${timeline.state === 'loading' ? 'reading the watch history… ' : ''}`
      + `${timeline.state === 'partial' ? 'the node\u2019s history did not reach back: changes since this page opened only. ' : ''}`
      + `${known != null && known > from ? 'shaded: older than the node\u2019s watch history. ' : ''}`
      + `${total} changes in ${minutes >= 60 ? 'the hour' : `${minutes} min`} · ${lanes.length + more} services changed`
      + `${more ? ` (${more} more: filter to see them)` : ''} · right: up / unhealthy / down now`;
  }

  let pending = 0;
  const soon = () => { if (!pending) pending = setTimeout(() => { pending = 0; render(); }, 500); };
  const unsubscribe = timeline.subscribe(soon);
  const unsubscribeRegistry = ctx.registry.subscribe(soon);
  const slide = setInterval(render, 10000);
  render();
  return () => { unsubscribe(); unsubscribeRegistry(); clearInterval(slide); clearTimeout(pending); };
}
