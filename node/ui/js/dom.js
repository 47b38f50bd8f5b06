// Small DOM and formatting helpers. Text always goes in through textContent:
// every string shown here came from a registration anyone could send.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
export const svg = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

export const STATUSES = ['up', 'unhealthy', 'down'];

export function statusBadge(status) {
  return h('span', { class: `st ${status}`, text: status });
}

// A stacked bar of counts by status; unknown statuses (starting, draining, ...) share "other".
export function statusBar(counts) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0) || 1;
  const bar = h('span', { class: 'bar', title: Object.entries(counts).map(([k, v]) => `${k}: ${v}`).join(', ') });
  for (const [status, n] of Object.entries(counts)) {
    if (!n) continue;
    const part = h('i', { class: STATUSES.includes(status) ? status : 'other' });
    part.style.width = `${(100 * n) / total}%`;
    bar.append(part);
  }
  return bar;
}

export function age(ms) {
  if (!Number.isFinite(ms)) return '—';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function clockTime(t) {
  return new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function endpoint(rec) {
  const iface = rec.interfaces || {};
  const first = iface.http || Object.values(iface)[0];
  if (first) return first;
  if (rec.address) return rec.port != null ? `${rec.address}:${rec.port}` : rec.address;
  return '';
}

export function debounce(fn, ms) {
  let t = 0;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

export function serviceHref(name) {
  return `#/service/${encodeURIComponent(name)}`;
}
