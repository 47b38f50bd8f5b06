// The cluster: members, roles, leader, term, indexes, lag and last contact,
// from GET /v1/cluster of this node and GET /v1/health of every member. Warns
// when a member is unreachable, behind, diverged or has storage problems;
// keeps working from the other members when this node itself stops answering.
// With federation (docs/federation.md), a Regions panel: each region's health,
// round-trip time, last contact and nodes, from the same /v1/cluster answer.

import { h } from '../dom.js';
import { getJSON, memberHealth } from '../api.js';

const POLL_MS = 2000;
const BEHIND = 500; // entries: past this a member is behind however busy the cluster
const STUCK_POLLS = 3; // ... or lagging without applying anything for this many polls

const short = (hash) => (hash ? `${String(hash).slice(0, 12)}…` : '—');
const num = (v) => (v == null ? '—' : String(v));

export function mount(root, ctx) {
  const summary = h('div', { class: 'cards' });
  const warnings = h('div', { class: 'panel warnings-panel' });
  const table = h('div', { class: 'panel' });
  const regions = h('div', { class: 'panel regions-panel', hidden: true });
  root.append(h('section', { class: 'page cluster' }, summary, warnings, table, regions));
  let members = ctx.members || [];
  let selfId = ctx.node?.id;
  const progress = new Map(); // id -> {applied, stuck}
  let stopped = false;
  let timer = 0;

  async function poll() {
    let own = null;
    let ownContact = null;
    try {
      const r = await getJSON('/v1/cluster', { timeout: 2500 });
      own = r.body;
      ownContact = r.headers.get('X-Manifest-Last-Contact');
      members = own.members;
      selfId = own.id;
      ctx.members = members;
    } catch (err) {
      own = null;
    }
    const healths = await Promise.all(members.map(async (m) => {
      if (!m.api) return { m, error: 'no API address announced yet' };
      try { return { m, health: await memberHealth(m.api) }; } catch (err) { return { m, error: 'unreachable' }; }
    }));
    if (!stopped) render(own, ownContact, healths);
    if (!stopped && own) renderRegions(own.regions);
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  }

  function render(own, ownContact, rows) {
    const reachable = rows.filter((r) => r.health);
    const leaderRow = reachable.find((r) => r.health.role === 'leader');
    const leaderUrl = own?.leader || leaderRow?.m.api || reachable.map((r) => r.health.leader).find(Boolean) || null;
    const leader = members.find((m) => m.api && m.api === leaderUrl);
    const term = Math.max(own?.term ?? -1, ...reachable.map((r) => r.health.term ?? -1));
    const commit = leaderRow?.health.commit_index ?? Math.max(-1, ...reachable.map((r) => r.health.commit_index ?? -1));
    const warn = [];
    if (!own) warn.push({ bad: true, text: `This node (${selfId || location.host}) does not answer; showing what the other members say.` });
    if (!leaderUrl) warn.push({ bad: true, text: 'No leader is known: writes are refused until one is elected.' });
    for (const a of own?.alarms || []) warn.push({ bad: true, text: `alarm ${a.kind} at index ${a.index}${a.peer ? ` with ${a.peer}` : ''}: ${a.detail || ''}` });

    const byHash = new Map();
    for (const r of reachable) {
      const key = r.health.applied_index;
      if (r.health.applied_hash == null) continue;
      if (!byHash.has(key)) byHash.set(key, new Set());
      byHash.get(key).add(r.health.applied_hash);
    }
    const view = rows.map(({ m, health, error }) => {
      const lag = health && commit >= 0 ? Math.max(0, commit - (health.applied_index ?? commit)) : null;
      const p = progress.get(m.id) || { applied: -1, stuck: 0 };
      if (health) {
        p.stuck = lag > 0 && health.applied_index === p.applied ? p.stuck + 1 : 0;
        p.applied = health.applied_index;
        progress.set(m.id, p);
      }
      const behind = lag != null && (lag > BEHIND || p.stuck >= STUCK_POLLS);
      const diverged = !!m.diverged || (health?.alarms || []).length > 0
        || (health && (byHash.get(health.applied_index)?.size || 0) > 1);
      const contact = m.self && ownContact != null ? Number(ownContact) : health?.last_contact_ms;
      if (error) warn.push({ bad: true, text: `${m.id} ${error}${m.api ? ` (${m.api})` : ''}.` });
      else if (health.status !== 'ok') warn.push({ bad: true, text: `${m.id} is not ready (${health.role}).` });
      if (behind) warn.push({ bad: false, text: `${m.id} is behind: ${lag} entries to apply.` });
      if (diverged) warn.push({ bad: true, text: `${m.id}'s applied state differs from the others' (docs/durability.md, divergence).` });
      for (const s of health?.storage || []) warn.push({ bad: true, text: `${m.id} cannot write its ${s.file}: ${s.error}` });
      for (const a of health?.alarms || []) warn.push({ bad: true, text: `${m.id} alarm ${a.kind} at index ${a.index}: ${a.detail || ''}` });
      return { m, health, error, lag, behind, diverged, contact };
    });

    const card = (label, value, cls = '') => h('div', { class: `card ${cls}`, dataset: { card: label } }, h('b', { text: value }), label);
    summary.replaceChildren(card('leader', leader ? leader.id : (leaderUrl || 'none'), leaderUrl ? '' : 'down'),
      card('term', term >= 0 ? term : '—'), card('commit index', commit >= 0 ? commit : '—'),
      card('members', `${reachable.length}/${rows.length} reachable`, reachable.length < rows.length ? 'warn' : ''),
      card('this node', selfId || '—', own ? '' : 'down'));
    warnings.replaceChildren(h('h2', { text: warn.length ? 'Warnings' : 'No warnings' }),
      warn.length ? h('ul', { class: 'warnings' }, warn.map((w) => h('li', { class: w.bad ? 'bad' : '', text: w.text }))) : h('p', { class: 'muted', text: 'Every member answers, agrees and keeps up.' }));
    const cols = ['member', 'role', 'ready', 'term', 'commit', 'applied', 'lag', 'applied hash', 'last contact', 'storage', 'api', 'raft', ''];
    table.replaceChildren(h('table', { class: 'members' },
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { text: c })))),
      h('tbody', {}, view.map((v) => h('tr', { class: [v.error ? 'unreachable' : '', v.behind ? 'behind' : '', v.diverged ? 'diverged' : ''].join(' ').trim(),
        dataset: { member: v.m.id, state: v.error ? 'unreachable' : v.health.status } },
        h('td', {}, v.m.id, v.m.self || v.m.id === selfId ? h('span', { class: 'badge info', text: 'this node' }) : ''),
        h('td', { class: 'role', text: v.error ? 'unreachable' : v.health.role }),
        h('td', { text: v.error ? '—' : v.health.status }),
        h('td', { text: num(v.health?.term) }), h('td', { text: num(v.health?.commit_index) }),
        h('td', { text: num(v.health?.applied_index) }),
        h('td', { text: num(v.lag) }),
        h('td', { class: 'mono', title: v.health?.applied_hash || '', text: short(v.health?.applied_hash) }),
        h('td', { text: v.contact == null ? '—' : v.contact < 0 ? 'never' : `${v.contact} ms` }),
        h('td', { text: (v.health?.storage || []).map((s) => s.file).join(', ') || (v.health ? 'ok' : '—') }),
        h('td', { class: 'mono', text: v.m.api || '—' }), h('td', { class: 'mono', text: v.m.raft || '—' }),
        h('td', {}, v.m.api && !v.error ? h('a', { href: `${v.m.api}/ui/#/cluster`, text: 'open here' }) : ''))))));
  }

  function renderRegions(list) {
    regions.hidden = !list;
    if (!list) return;
    const ms = (v) => (v == null ? '—' : `${v} ms`);
    const nodes = (r) => (r.local ? 'this region' : r.nodes.map((n) => `${n.url} ${n.healthy ? 'up' : `down${n.error ? ` (${n.error})` : ''}`}`).join(' · '));
    regions.replaceChildren(h('h2', { text: 'Regions' }), h('table', { class: 'members regions' },
      h('thead', {}, h('tr', {}, ['region', 'state', 'round trip', 'last seen', 'nodes'].map((c) => h('th', { text: c })))),
      h('tbody', {}, list.map((r) => h('tr', { class: r.healthy ? '' : 'unreachable', dataset: { region: r.name, state: r.healthy ? 'healthy' : 'unhealthy' } },
        h('td', {}, r.name, r.local ? h('span', { class: 'badge info', text: 'this region' }) : ''),
        h('td', { class: 'role', text: r.healthy ? 'healthy' : 'unhealthy' }),
        h('td', { text: r.local ? '—' : ms(r.rtt_ms) }),
        h('td', { text: r.local ? '—' : (r.last_seen || 'never') }),
        h('td', { class: 'mono', text: nodes(r) }))))));
  }

  poll();
  return () => { stopped = true; clearTimeout(timer); };
}
