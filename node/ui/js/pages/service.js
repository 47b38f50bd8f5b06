// One service: its instances (live from the watch), heartbeat ages ticking,
// what it depends on and what depends on it, and its removed instances
// once the node offers ?include=removed.

import { h, statusBadge, statusBar, age, endpoint, serviceHref, clockTime, debounce } from '../dom.js';
import { clock, features, getJSON } from '../api.js';
import { VirtualList, cellsRow } from '../vlist.js';

// Heartbeats that change nothing send no watch event: this one read (not
// one per row) keeps the ages true.
const REFRESH_MS = 5000;
const RANK = { down: 0, unhealthy: 1, up: 3 };

function checkText(r) {
  if (!r.check) return '';
  const c = r.check;
  return typeof c === 'object' ? [c.status, c.output || c.message].filter(Boolean).join(': ') || JSON.stringify(c) : String(c);
}

async function readService(name) {
  if (features.removed !== false) {
    const r = await getJSON(`/v1/services/${encodeURIComponent(name)}?include=removed`, { accept: [400, 404] });
    if (r.status !== 400 || r.body?.error?.field !== 'include') {
      if (r.status === 200) features.removed = true;
      return r;
    }
    features.removed = false; // an older node: ask without it from now on
  }
  return getJSON(`/v1/services/${encodeURIComponent(name)}`, { accept: [404] });
}

export function mount(root, ctx, [name = '']) {
  const { registry } = ctx;
  const info = h('div');
  const detail = h('aside', { class: 'panel side' }, h('p', { class: 'muted', text: 'Click an instance for all its fields.' }));
  const removedBox = h('div', { class: 'panel', hidden: true });
  let selected = null;
  let removed = [];
  let missing = false;
  let filter = '';
  const search = h('input', { type: 'search', id: 'filter', placeholder: 'filter: id, status, version, endpoint',
    'aria-label': 'filter instances', oninput: debounce((e) => { filter = e.target.value.trim(); update(); }, 120) });

  const list = new VirtualList({
    columns: [{ title: 'id', width: 'minmax(140px,1.4fr)' }, { title: 'status', width: '90px' },
      { title: 'version', width: '80px' }, { title: 'endpoint', width: 'minmax(140px,1.4fr)' },
      { title: 'last heartbeat', width: '100px' }, { title: 'generation', width: '80px' },
      { title: 'check', width: 'minmax(60px,1fr)' }, { title: 'tags', width: 'minmax(60px,1fr)' },
      { title: 'metadata', width: 'minmax(80px,1.4fr)' }],
    create: cellsRow(9),
    empty: 'No instance registered',
    onClick: (r) => { selected = r.id; showDetail(); list.refresh(); },
    render(row, r) {
      const [id, status, version, ep, hb, gen, check, tags, meta] = row.cells;
      row.dataset.id = r.id;
      row.classList.toggle('selected', r.id === selected);
      id.textContent = r.id;
      status.replaceChildren(statusBadge(r.status));
      status.dataset.status = r.status;
      version.textContent = r.version || '';
      ep.textContent = endpoint(r);
      hb.textContent = `${age(clock.now() - Date.parse(r.last_heartbeat))} ago`;
      hb.className = 'age';
      gen.textContent = r.generation ?? '';
      check.textContent = checkText(r);
      tags.textContent = (r.tags || []).join(', ');
      meta.textContent = Object.entries(r.metadata || {}).map(([k, v]) => `${k}=${v}`).join(' ');
    },
  });
  // The filter stays out of what re-renders, or typing would lose focus.
  const head = h('div', { class: 'panel' }, info, h('div', { class: 'row' }, search));
  root.append(h('section', { class: 'page service' }, head, h('div', { class: 'split' }, list.el, detail), removedBox));

  // Trouble first: down, then unhealthy, then any other state, then up; by id within each.
  function instances() {
    const text = filter.toLowerCase();
    const rank = (r) => RANK[r.status] ?? 2;
    return [...(registry.services.get(name)?.values() || [])]
      .filter((r) => !text || r.id.toLowerCase().includes(text) || r.status === text || (r.version || '').includes(text)
        || endpoint(r).toLowerCase().includes(text))
      .sort((a, b) => rank(a) - rank(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  function showDetail() {
    const r = registry.services.get(name)?.get(selected) || removed.find((x) => x.id === selected);
    if (!r) return;
    detail.replaceChildren(h('h2', { text: r.id }), h('pre', { class: 'json mono', text: JSON.stringify(r, null, 2) }));
  }

  function renderHead() {
    const summaries = registry.summaries();
    const s = summaries.get(name);
    const neededBy = [...summaries.values()].filter((o) => o.deps.has(name)).map((o) => o.name).sort();
    const depLink = (d) => {
      const up = summaries.get(d)?.counts.up > 0;
      return h('a', { href: serviceHref(d), class: `badge ${up ? '' : 'bad'}`, title: up ? 'has an instance up' : 'no instance up', text: d });
    };
    const counts = s ? s.counts : { up: 0, unhealthy: 0, down: 0 };
    info.replaceChildren(
      h('div', { class: 'row' }, h('h1', { text: name }),
        h('span', { class: 'muted', text: missing && !s ? 'no such service was ever registered' : `${s?.total || 0} instances` }),
        h('span', { class: 'muted', dataset: { counts: '' }, text: `up ${counts.up} · unhealthy ${counts.unhealthy} · down ${counts.down}` })),
      h('div', { class: 'row' }, statusBar(counts)),
      h('div', { class: 'row' }, h('span', { class: 'muted', text: 'depends on' }),
        ...(s?.deps.size ? [...s.deps].sort().map(depLink) : [h('span', { text: '—' })]),
        h('span', { class: 'muted', text: ' needed by' }),
        ...(neededBy.length ? neededBy.map(depLink) : [h('span', { text: '—' })])),
      ...(s?.warnings.length ? [h('div', { class: 'row' }, ...s.warnings.map((w) => h('span', { class: 'badge warn', text: String(w.message || w) })))] : []));
  }

  function renderRemoved() {
    removedBox.hidden = !features.removed;
    if (!features.removed) return;
    removedBox.replaceChildren(h('h2', { text: `Removed instances (${removed.length})` }),
      removed.length ? h('dl', { class: 'kv' }, removed.flatMap((r) => [
        h('dt', { text: r.id }),
        h('dd', { text: `${r.removed?.reason || 'removed'} at ${r.removed?.at ? clockTime(Date.parse(r.removed.at)) : '?'}` })]))
        : h('p', { class: 'muted', text: 'None kept.' }));
  }

  function update() {
    renderHead();
    list.setItems(instances());
    if (selected) showDetail();
  }

  async function refresh() {
    try {
      const r = await readService(name);
      missing = r.status === 404;
      if (r.status === 200) {
        const all = r.body.instances || [];
        removed = all.filter((x) => x.removed);
        registry.refreshService(name, all.filter((x) => !x.removed));
        renderRemoved();
      }
      update();
    } catch (err) {
      console.warn('service refresh:', err.message);
    }
  }

  update();
  refresh();
  // Any change may flip a dependency's badge, not only this service's own.
  const unsubscribe = registry.subscribe(update);
  const tick = setInterval(() => list.refresh(), 1000);
  const poll = setInterval(refresh, REFRESH_MS);
  return () => { unsubscribe(); clearInterval(tick); clearInterval(poll); list.destroy(); };
}
