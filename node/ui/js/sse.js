// The watch stream read with fetch() rather than EventSource: EventSource
// cannot send an Authorization header, and the registry will want one.
// Resumes like EventSource does (Last-Event-ID), honours `retry:`, and treats
// a stream silent for three keep-alive periods as dead (docs/watch.md).

import { authHeaders, askToken } from './api.js';

const DEAD_AFTER_MS = 45000;
const MAX_BACKOFF_MS = 15000;

const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

// Splits a text stream into SSE events: {id, event, data} with data still a string.
export class SSEParser {
  constructor() { this.buf = ''; this.fields = { data: [] }; this.retry = null; }

  push(text) {
    this.buf += text;
    const out = [];
    let start = 0;
    for (;;) {
      const nl = this.buf.indexOf('\n', start);
      if (nl < 0) break;
      let line = this.buf.slice(start, nl);
      start = nl + 1;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (this.fields.data.length) {
          out.push({ id: this.fields.id, event: this.fields.event || 'message', data: this.fields.data.join('\n') });
        }
        this.fields = { data: [] };
        continue;
      }
      if (line[0] === ':') continue; // a keep-alive comment
      const colon = line.indexOf(':');
      const key = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (key === 'data') this.fields.data.push(value);
      else if (key === 'id') this.fields.id = value;
      else if (key === 'event') this.fields.event = value;
      else if (key === 'retry' && /^[0-9]+$/.test(value)) this.retry = Number(value);
    }
    this.buf = this.buf.slice(start);
    return out;
  }
}

// watch({since, onEvents, onState}): onEvents gets each chunk's events parsed
// ({id, event, data}); onState 'connecting' | 'live' | 'retrying' | 'unauthorized'.
export class Watch {
  constructor({ path = '/v1/watch', since, onEvents, onState = () => {} }) {
    Object.assign(this, { path, lastId: since, onEvents, onState });
    this.ctl = new AbortController();
    this.retry = 1000;
  }

  start() { this.run(); return this; }

  stop() { this.ctl.abort(); }

  async run() {
    let backoff = this.retry;
    let first = true;
    while (!this.ctl.signal.aborted) {
      this.onState('connecting');
      const attempt = new AbortController();
      const stopAttempt = () => attempt.abort();
      this.ctl.signal.addEventListener('abort', stopAttempt, { once: true });
      try {
        const headers = { Accept: 'text/event-stream' };
        let url = this.path;
        if (this.lastId != null) {
          // The first connection names its starting point; a resumed one says
          // what it last received, as EventSource would.
          if (first) url += (url.includes('?') ? '&' : '?') + `since=${this.lastId}`;
          else headers['Last-Event-ID'] = String(this.lastId);
        }
        const res = await fetch(url, { headers: authHeaders(headers), signal: attempt.signal, cache: 'no-store' });
        if (res.status === 401) {
          this.onState('unauthorized');
          await askToken('');
          continue;
        }
        if (!res.ok) throw new Error(`watch answered ${res.status}`);
        first = false;
        this.onState('live');
        await this.read(res.body, attempt);
        backoff = this.retry; // it worked for a while: start the back-off afresh
      } catch (err) {
        if (this.ctl.signal.aborted) return;
      } finally {
        this.ctl.signal.removeEventListener('abort', stopAttempt);
      }
      this.onState('retrying');
      await sleep(backoff, this.ctl.signal);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  async read(body, attempt) {
    const parser = new SSEParser();
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let timer = 0;
    const arm = () => { clearTimeout(timer); timer = setTimeout(() => attempt.abort(), DEAD_AFTER_MS); };
    arm();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        arm();
        const events = parser.push(value);
        if (parser.retry != null) this.retry = parser.retry;
        if (!events.length) continue;
        this.lastId = Number(events[events.length - 1].id ?? this.lastId);
        this.onEvents(events);
      }
    } finally {
      clearTimeout(timer);
      reader.cancel().catch(() => {});
    }
  }
}

// Reads one stream from ``since`` until it reaches revision ``until`` (or goes
// quiet), then closes it: the timeline's history. Returns {events, reset}.
export async function readHistory(since, until, { quietMs = 1500, maxMs = 20000 } = {}) {
  const ctl = new AbortController();
  const overall = setTimeout(() => ctl.abort(), maxMs);
  const events = [];
  const parser = new SSEParser();
  let quiet = 0;
  try {
    const res = await fetch(`/v1/watch?since=${since}`, { headers: authHeaders({ Accept: 'text/event-stream' }),
      signal: ctl.signal, cache: 'no-store' });
    if (!res.ok) return { events, reset: false, failed: res.status };
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      clearTimeout(quiet);
      quiet = setTimeout(() => ctl.abort(), quietMs);
      const { value, done } = await reader.read();
      if (done) break;
      for (const ev of parser.push(value)) {
        if (ev.event === 'reset') { ctl.abort(); return { events, reset: true }; }
        events.push(ev);
      }
      if (events.length && Number(events[events.length - 1].id) >= until) break;
    }
    reader.cancel().catch(() => {});
  } catch (err) {
    if (!ctl.signal.aborted) throw err;
  } finally {
    clearTimeout(quiet);
    clearTimeout(overall);
    ctl.abort();
  }
  return { events, reset: false };
}
