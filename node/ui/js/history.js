// Status changes over the last hour, for the timeline. They come from the
// watch history (the node replays its newest changes from any `since`) and
// then from the live stream. Events carry no timestamp of their own, so
// each is placed by its record's times (registered_at, last_heartbeat,
// last_heartbeat + ttl for an expiry), kept in revision order.

import { readHistory } from './sse.js';
import { clock } from './api.js';

export const WINDOW_MS = 3600 * 1000;
const GRACE_MS = 60000; // the registry's default down grace (CONTRACT.md)
// The node keeps --watch-history changes (10,000 by default); a smaller
// setting answers a too-old `since` with a reset, so try narrower windows.
const TRIES = [10000, 2000, 500];

function estimate(kind, rec) {
  const hb = Date.parse(rec.last_heartbeat);
  switch (kind) {
    case 'registered': return Date.parse(rec.registered_at);
    case 'updated': case 'status': return hb;
    case 'expired': return hb + rec.ttl * 1000;
    case 'deregistered': return rec.reason === 'grace' ? hb + rec.ttl * 1000 + GRACE_MS : NaN;
    default: return NaN;
  }
}

// What an instance's status was before its first change in the window.
function guessBefore(kind, rec) {
  switch (kind) {
    case 'registered': return null;
    case 'status': return rec.status === 'up' ? 'unhealthy' : 'up';
    case 'expired': return 'up';
    default: return rec.status;
  }
}

export class Timeline {
  constructor(registry) {
    this.registry = registry;
    this.changes = []; // {t, rev, name, id, kind, before, after}, ascending
    this.state = 'loading'; // 'loading' | 'ready' | 'partial' (no history, live only)
    // Before this time the node's history may have lost changes (its ring
    // keeps the newest ones): the chart shades it instead of guessing.
    this.knownFrom = null;
    this.listeners = new Set();
    registry.onChanges((changes, live) => this.add(changes, live));
  }

  subscribe(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  emit() { for (const fn of this.listeners) fn(); }

  add(changes, live) {
    let last = this.changes.length ? this.changes[this.changes.length - 1].t : 0;
    for (const c of changes) {
      const t = live ? clock.now() : estimate(c.kind, c.rec);
      last = Math.max(last, Number.isFinite(t) ? t : last);
      this.changes.push({ t: last, rev: c.rev, name: c.rec.name, id: c.rec.id, kind: c.kind, before: c.before,
                          after: c.after, ver: c.rec.version });
    }
    this.trim();
    this.emit();
  }

  trim() {
    const cut = clock.now() - WINDOW_MS - 60000;
    let k = 0;
    while (k < this.changes.length && this.changes[k].t < cut) k++;
    if (k) this.changes.splice(0, k);
  }

  // The changes up to ``revision`` (the list's), read once from the watch history.
  async load(revision) {
    for (const window of TRIES) {
      const since = Math.max(0, revision - window);
      const { events, reset } = await readHistory(since, revision);
      if (reset && since > 0) continue;
      const older = [];
      const seen = new Map(); // name\0id -> status after its latest change so far
      for (const ev of events) {
        const rev = Number(ev.id);
        if (rev > revision) break; // the live stream brings these
        let rec;
        try { rec = JSON.parse(ev.data); } catch { continue; }
        if (ev.event === 'protection') continue; // a service's change, not an instance's
        const key = `${rec.name}\0${rec.id}`;
        const before = seen.has(key) ? seen.get(key)
          : ev.event === 'deregistered' ? rec.status : guessBefore(ev.event, rec);
        const after = ev.event === 'deregistered' ? null : rec.status;
        seen.set(key, after);
        older.push({ rev, kind: ev.event, rec, before, after });
      }
      const live = this.changes;
      this.changes = [];
      this.add(older, false);
      this.changes.push(...live.filter((c) => c.rev > revision));
      this.state = reset ? 'partial' : 'ready';
      // From revision 0 nothing was lost; from later, what came before the first event is unknown.
      this.knownFrom = since === 0 && !reset ? null : (this.changes[0]?.t ?? clock.now());
      this.emit();
      return;
    }
    this.state = 'partial';
    this.knownFrom = clock.now();
    this.emit();
  }

  // Per lane (a service, or '*' for all together): counts by status at the
  // window's start and after each change, walked back from the current state.
  series(from, together = false) {
    const laneOf = together ? () => '*' : (name) => name;
    const current = new Map();
    for (const [name, s] of this.registry.summaries()) {
      const cur = current.get(laneOf(name)) || { up: 0, unhealthy: 0, down: 0 };
      for (const [k, v] of Object.entries(s.counts)) cur[k] = (cur[k] || 0) + v;
      current.set(laneOf(name), cur);
    }
    const out = new Map();
    const counts = new Map([...current].map(([k, v]) => [k, { ...v }]));
    for (let i = this.changes.length - 1; i >= 0; i--) {
      const c = this.changes[i];
      if (c.t < from) break;
      const name = laneOf(c.name);
      if (!out.has(name)) out.set(name, { name, points: [], changes: [] });
      const l = out.get(name);
      const cnt = counts.get(name) || { up: 0, unhealthy: 0, down: 0 };
      counts.set(name, cnt);
      l.points.push({ t: c.t, counts: { ...cnt } });
      l.changes.push(c);
      if (c.after) cnt[c.after] = Math.max(0, (cnt[c.after] || 0) - 1);
      if (c.before) cnt[c.before] = (cnt[c.before] || 0) + 1;
    }
    for (const l of out.values()) {
      l.start = { ...(counts.get(l.name) || {}) };
      l.points.reverse();
      l.changes.reverse();
      l.now = current.get(l.name) || { up: 0, unhealthy: 0, down: 0 };
    }
    if (together && !out.has('*')) {
      const now = current.get('*') || { up: 0, unhealthy: 0, down: 0 };
      out.set('*', { name: '*', points: [], changes: [], start: now, now });
    }
    return out;
  }
}
