// Boot and hash routing. One list read, then one watch stream for the whole
// app; every page renders from the shared Registry (docs/dashboard.md).

import { getJSON, probeGraph } from './api.js';
import { h } from './dom.js';
import { Registry } from './registry.js';
import { Timeline } from './history.js';
import { Watch } from './sse.js';
import * as overview from './pages/overview.js';
import * as service from './pages/service.js';
import * as graph from './pages/graph.js';
import * as timeline from './pages/timeline.js';
import * as cluster from './pages/cluster.js';

const PAGES = { overview, service, graph, timeline, cluster };

const registry = new Registry();
const ctx = { registry, timeline: new Timeline(registry), node: null, members: [], graph: null };
let current = null;

function route() {
  const [, page = '', ...rest] = location.hash.replace(/^#/, '').split('/');
  return { page: PAGES[page] ? page : 'overview', args: rest.map(decodeURIComponent) };
}

function show() {
  const { page, args } = route();
  current?.();
  const view = document.getElementById('view');
  view.replaceChildren();
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.page === page || (page === 'service' && a.dataset.page === 'overview'));
  }
  document.title = `Manifest · ${page}`;
  current = PAGES[page].mount(view, ctx, args) || null;
}

function setConn(state) {
  const el = document.getElementById('conn');
  el.dataset.state = state;
  el.textContent = state === 'live' ? `live · rev ${registry.revision}` : state;
  if (state !== 'live') banner(state === 'retrying' ? lostNode() : null);
  else banner(null);
}

// When this node stops answering, say so and point at the other members
// (each serves the same dashboard at /ui/).
function lostNode() {
  const others = ctx.members.filter((m) => !m.self && m.api);
  return h('span', {}, `Lost the watch stream of this node (${ctx.node?.id || location.host}); retrying. `,
    others.length ? 'The dashboard is also at: ' : '',
    others.map((m, i) => [i ? ', ' : '', h('a', { href: `${m.api}/ui/${location.hash}`, text: `${m.id} (${m.api})` })]));
}

export function banner(content, bad = true) {
  const el = document.getElementById('banner');
  el.hidden = !content;
  el.classList.toggle('bad', bad);
  el.replaceChildren(...(content ? [content] : []));
}

async function boot() {
  window.addEventListener('hashchange', show);
  show();
  try {
    const list = await getJSON('/v1/services');
    registry.load(list.body.instances, list.body.revision);
    const watch = new Watch({ since: list.body.revision, onState: setConn,
      onEvents: (events) => {
        registry.applyEvents(events);
        document.getElementById('conn').textContent = `live · rev ${registry.revision}`;
      } });
    watch.start();
    ctx.timeline.load(list.body.revision).catch((err) => console.warn('timeline history:', err));
  } catch (err) {
    setConn('offline');
    banner(h('span', { text: `Could not read the registry: ${err.message}` }));
    return;
  }
  getJSON('/v1/cluster').then(({ body }) => {
    ctx.node = body.members.find((m) => m.self) || { id: body.id };
    ctx.members = body.members;
    document.getElementById('node').textContent = `node ${body.id}`;
  }).catch(() => {});
  probeGraph().then((g) => { ctx.graph = g; registry.touch('*'); }).catch(() => {});
}

boot();
