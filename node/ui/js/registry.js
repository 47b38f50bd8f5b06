// The browser's copy of the registry: one list read, then the watch stream.
// Pages never poll per row; they subscribe here and re-render at most a few
// times a second however fast events arrive.

const FLUSH_MS = 150;

export class Registry {
  constructor() {
    this.services = new Map(); // name -> Map(id -> record)
    this.revision = 0;
    this.version = 0; // bumps on every change: pages cache derived views by it
    this.changed = new Set();
    this.listeners = new Set();
    this.changeListeners = new Set(); // raw per-instance changes, for the timeline
    this.timer = 0;
    this.loaded = false;
  }

  subscribe(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  onChanges(fn) { this.changeListeners.add(fn); return () => this.changeListeners.delete(fn); }

  get size() { let n = 0; for (const m of this.services.values()) n += m.size; return n; }

  load(instances, revision) {
    this.services.clear();
    for (const rec of instances) this.put(rec);
    this.revision = revision;
    this.loaded = true;
    this.touch('*');
  }

  put(rec) {
    let peers = this.services.get(rec.name);
    if (!peers) this.services.set(rec.name, (peers = new Map()));
    const old = peers.get(rec.id);
    peers.set(rec.id, rec);
    return old;
  }

  drop(name, id) {
    const peers = this.services.get(name);
    const old = peers?.get(id);
    if (!old) return undefined;
    peers.delete(id);
    if (!peers.size) this.services.delete(name);
    return old;
  }

  // SSE events as the watch parsed them ({id, event, data: string}).
  applyEvents(events, live = true) {
    const changes = [];
    for (const ev of events) {
      const rev = Number(ev.id);
      let data;
      try { data = JSON.parse(ev.data); } catch { continue; }
      if (ev.event === 'reset') { changes.push(...this.reset(data)); continue; }
      if (rev <= this.revision) continue; // already in the list we started from
      this.revision = rev;
      // A service entering or leaving mass-expiry protection: no instance changed.
      if (ev.event === 'protection') { this.touch(data.name); continue; }
      if (ev.event === 'deregistered') {
        const old = this.drop(data.name, data.id);
        changes.push({ rev, kind: ev.event, rec: data, before: old?.status ?? data.status, after: null });
      } else {
        const old = this.put(data);
        changes.push({ rev, kind: ev.event, rec: data, before: old ? old.status : null, after: data.status });
      }
      this.touch(data.name);
    }
    if (changes.length) for (const fn of this.changeListeners) fn(changes, live);
  }

  // A reset replaces everything; what differs from before becomes changes.
  reset({ instances, revision }) {
    const before = new Map();
    for (const peers of this.services.values()) for (const r of peers.values()) before.set(`${r.name}\0${r.id}`, r);
    this.services.clear();
    const changes = [];
    for (const rec of instances) {
      this.put(rec);
      const key = `${rec.name}\0${rec.id}`;
      const old = before.get(key);
      before.delete(key);
      if (!old || old.status !== rec.status) {
        changes.push({ rev: revision, kind: 'reset', rec, before: old ? old.status : null, after: rec.status });
      }
    }
    for (const old of before.values()) changes.push({ rev: revision, kind: 'reset', rec: old, before: old.status, after: null });
    this.revision = revision;
    this.touch('*');
    return changes;
  }

  // Fresh records of one service (the service page re-reads it for heartbeat times).
  refreshService(name, instances) {
    if (!instances.length) return;
    const peers = this.services.get(name);
    if (!peers) return;
    for (const rec of instances) {
      const cur = peers.get(rec.id);
      // Only a record at least as new as ours: the watch may be ahead of this read.
      if (cur && rec.revision >= cur.revision) peers.set(rec.id, rec);
    }
    this.touch(name);
  }

  touch(name) {
    this.version++;
    this.changed.add(name);
    if (!this.timer) this.timer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush() {
    this.timer = 0;
    const changed = this.changed;
    this.changed = new Set();
    for (const fn of this.listeners) fn(changed);
  }

  // Every instance, ordered by (name, id) like the API's lists; cached per version.
  all() {
    if (this.allCache?.version !== this.version) {
      const list = [];
      for (const name of [...this.services.keys()].sort()) {
        const peers = this.services.get(name);
        for (const id of [...peers.keys()].sort()) list.push(peers.get(id));
      }
      this.allCache = { version: this.version, list };
    }
    return this.allCache.list;
  }

  // Per service: counts by status, versions, tags, dependencies and whether each is met.
  summaries() {
    if (this.sumCache?.version === this.version) return this.sumCache.map;
    const map = new Map();
    for (const [name, peers] of this.services) {
      const s = { name, total: peers.size, counts: { up: 0, unhealthy: 0, down: 0 }, versions: new Set(),
                  tags: new Set(), deps: new Set(), warnings: [] };
      for (const r of peers.values()) {
        s.counts[r.status] = (s.counts[r.status] || 0) + 1;
        if (r.version) s.versions.add(r.version);
        for (const t of r.tags || []) s.tags.add(t);
        for (const d of r.dependencies || []) s.deps.add(d);
        if (Array.isArray(r.warnings)) s.warnings.push(...r.warnings);
      }
      map.set(name, s);
    }
    for (const s of map.values()) {
      s.unmet = [...s.deps].filter((d) => !(map.get(d)?.counts.up > 0)).sort();
    }
    this.sumCache = { version: this.version, map };
    return map;
  }
}
