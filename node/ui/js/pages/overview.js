// Overview: counts by status, search and filters, then every service (or
// every instance) in a virtualised list. Services with an unmet dependency,
// warnings or mass-expiry protection are flagged.

import { h, statusBadge, statusBar, age, endpoint, debounce, serviceHref, STATUSES } from '../dom.js';
import { clock } from '../api.js';
import { versionFilter } from '../semver.js';
import { VirtualList, cellsRow } from '../vlist.js';

const filters = { text: '', statuses: new Set(), tag: '', version: '', problems: false, mode: 'services' };

function matcher() {
  const text = filters.text.trim().toLowerCase();
  const version = versionFilter(filters.version) || (() => false);
  return (r) => (!filters.statuses.size || filters.statuses.has(r.status))
    && (!filters.tag || (r.tags || []).includes(filters.tag))
    && (!filters.version || version(r.version))
    && (!text || r.name.includes(text) || r.id.toLowerCase().includes(text)
        || (r.version || '').includes(text) || endpoint(r).toLowerCase().includes(text)
        || (r.tags || []).some((t) => t.toLowerCase().includes(text)));
}

function protectedSet(ctx) {
  return new Set((ctx.graph?.nodes || []).filter((n) => n.protected).map((n) => n.name));
}

export function mount(root, ctx) {
  const { registry } = ctx;
  const page = h('section', { class: 'page overview' });
  const cards = h('div', { class: 'cards' });
  const tagSelect = h('select', { 'aria-label': 'tag', onchange: (e) => { filters.tag = e.target.value; update(); } });
  const statusButtons = STATUSES.map((s) => h('button', { type: 'button', class: filters.statuses.has(s) ? 'on' : '',
    dataset: { status: s }, text: s, onclick: (e) => {
      if (filters.statuses.has(s)) filters.statuses.delete(s); else filters.statuses.add(s);
      e.target.classList.toggle('on', filters.statuses.has(s));
      update();
    } }));
  const versionInput = h('input', { type: 'search', placeholder: 'version: 1.4 or >=1.2,<2', value: filters.version,
    'aria-label': 'version', oninput: debounce((e) => { filters.version = e.target.value; update(); }, 150) });
  const modeButtons = ['services', 'instances'].map((m) => h('button', { type: 'button', dataset: { mode: m },
    class: filters.mode === m ? 'on' : '', text: m, onclick: () => { filters.mode = m; build(); update(); } }));
  const count = h('span', { class: 'muted', id: 'shown' });
  const bar = h('div', { class: 'row panel' },
    h('input', { type: 'search', id: 'search', placeholder: 'search name, id, tag, endpoint', value: filters.text,
      'aria-label': 'search', oninput: debounce((e) => { filters.text = e.target.value; update(); }, 120) }),
    'status', ...statusButtons, 'tag', tagSelect, versionInput,
    h('label', {}, h('input', { type: 'checkbox', checked: filters.problems,
      onchange: (e) => { filters.problems = e.target.checked; update(); } }), ' problems only'),
    h('span', { class: 'spacer' }), ...modeButtons, count);
  page.append(cards, bar);
  root.append(page);

  let list = null;
  function build() {
    list?.destroy();
    for (const b of modeButtons) b.classList.toggle('on', b.dataset.mode === filters.mode);
    list = filters.mode === 'services' ? servicesList(ctx) : instancesList();
    page.append(list.el);
  }

  let tagsVersion = -1;
  function fillTags(summaries) {
    if (tagsVersion === registry.version) return;
    tagsVersion = registry.version;
    const tags = new Set();
    for (const s of summaries.values()) for (const t of s.tags) tags.add(t);
    const options = [h('option', { value: '', text: 'any' }), ...[...tags].sort().slice(0, 500)
      .map((t) => h('option', { value: t, text: t, selected: t === filters.tag }))];
    tagSelect.replaceChildren(...options);
  }

  function update() {
    const summaries = registry.summaries();
    fillTags(summaries);
    renderCards(cards, summaries, registry, protectedSet(ctx));
    versionInput.classList.toggle('error', !!filters.version && !versionFilter(filters.version));
    const match = matcher();
    const filtered = registry.all().filter(match);
    if (filters.mode === 'instances') {
      const rows = filters.problems ? filtered.filter((r) => r.status !== 'up') : filtered;
      list.setItems(rows);
      count.textContent = `${rows.length} of ${registry.size} instances`;
      return;
    }
    const byService = new Map();
    for (const r of filtered) {
      let s = byService.get(r.name);
      if (!s) byService.set(r.name, (s = { ...summaries.get(r.name), counts: { up: 0, unhealthy: 0, down: 0 }, shown: 0 }));
      s.counts[r.status] = (s.counts[r.status] || 0) + 1;
      s.shown++;
    }
    const prot = protectedSet(ctx);
    let rows = [...byService.values()].map((s) => ({ ...s, protected: prot.has(s.name) }));
    if (filters.problems) rows = rows.filter((s) => s.unmet.length || s.counts.down || s.counts.unhealthy || s.protected);
    list.setItems(rows);
    count.textContent = `${rows.length} of ${summaries.size} services`;
  }

  build();
  update();
  const unsubscribe = registry.subscribe(update);
  const tick = setInterval(() => { if (filters.mode === 'instances') list.refresh(); }, 1000);
  return () => { unsubscribe(); clearInterval(tick); list.destroy(); };
}

function renderCards(el, summaries, registry, prot) {
  const totals = { up: 0, unhealthy: 0, down: 0 };
  let unmet = 0;
  for (const s of summaries.values()) {
    for (const [k, v] of Object.entries(s.counts)) totals[k] = (totals[k] || 0) + v;
    if (s.unmet.length) unmet++;
  }
  const card = (label, value, cls = '') => h('div', { class: `card ${cls}`, dataset: { card: label } }, h('b', { text: value }), label);
  el.replaceChildren(card('services', summaries.size), card('instances', registry.size),
    ...Object.entries(totals).map(([k, v]) => card(k, v, k)),
    card('unmet dependencies', unmet, unmet ? 'warn' : ''),
    ...(prot.size ? [card('protected', prot.size, 'warn')] : []));
}

function servicesList(ctx) {
  return new VirtualList({
    columns: [{ title: 'service', width: 'minmax(140px,1.4fr)' }, { title: 'instances', width: '70px' },
      { title: 'health', width: 'minmax(90px,1fr)' }, { title: 'up / unh. / down', width: '120px' },
      { title: 'versions', width: 'minmax(80px,1fr)' }, { title: 'depends on', width: 'minmax(100px,1.4fr)' },
      { title: 'flags', width: 'minmax(90px,1.2fr)' }],
    create: cellsRow(7),
    onClick: (s) => { location.hash = serviceHref(s.name); },
    empty: 'No service matches',
    render(row, s) {
      const [name, n, health, counts, versions, deps, flags] = row.cells;
      row.dataset.service = s.name;
      row.classList.toggle('flag', s.unmet.length > 0 || s.protected);
      name.replaceChildren(h('a', { href: serviceHref(s.name), text: s.name }));
      n.textContent = s.shown === s.total ? s.total : `${s.shown}/${s.total}`;
      health.replaceChildren(statusBar(s.counts));
      counts.textContent = `${s.counts.up} / ${s.counts.unhealthy} / ${s.counts.down}`;
      versions.textContent = [...s.versions].sort().join(', ');
      deps.textContent = [...s.deps].sort().join(', ');
      flags.replaceChildren(
        ...s.unmet.map((d) => h('span', { class: 'badge bad', title: `no instance of ${d} is up`, text: `unmet: ${d}` })),
        ...(s.protected ? [h('span', { class: 'badge warn', text: 'protected' })] : []),
        ...(s.warnings.length ? [h('span', { class: 'badge warn', title: s.warnings.join('\n'), text: `${s.warnings.length} warnings` })] : []));
    },
  });
}

function instancesList() {
  return new VirtualList({
    columns: [{ title: 'service', width: 'minmax(120px,1fr)' }, { title: 'id', width: 'minmax(140px,1.3fr)' },
      { title: 'status', width: '90px' }, { title: 'version', width: '90px' },
      { title: 'endpoint', width: 'minmax(140px,1.3fr)' }, { title: 'tags', width: 'minmax(80px,1fr)' },
      { title: 'registered', width: '110px' }],
    create: cellsRow(7),
    onClick: (r) => { location.hash = serviceHref(r.name); },
    empty: 'No instance matches',
    render(row, r) {
      // Heartbeats that change nothing send no watch event, so only the service
      // page (which re-reads its service) shows heartbeat ages.
      const [name, id, status, version, ep, tags, reg] = row.cells;
      row.dataset.id = r.id;
      name.textContent = r.name;
      id.textContent = r.id;
      status.replaceChildren(statusBadge(r.status));
      version.textContent = r.version || '';
      ep.textContent = endpoint(r);
      tags.textContent = (r.tags || []).join(', ');
      reg.textContent = `${age(clock.now() - Date.parse(r.registered_at))} ago`;
    },
  });
}
