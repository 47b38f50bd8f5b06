// Version ranges as the API's `version=` filter takes them (">=1.2,<2", "^1.4",
// "~1.4.2", "==2.0.0"), evaluated in the browser on the records it holds.
// A bare "1.4" is a prefix match: what an operator typing in a box means.

function parse(text) {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(String(text).trim());
  if (!m) return null;
  return { nums: [Number(m[1]), Number(m[2] || 0), Number(m[3] || 0)], pre: m[4] ? m[4].split('.') : [] };
}

function cmpPre(a, b) {
  if (!a.length || !b.length) return b.length - a.length; // a release sorts after its pre-releases
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] === undefined) return -1;
    if (b[i] === undefined) return 1;
    const na = /^\d+$/.test(a[i]);
    const nb = /^\d+$/.test(b[i]);
    if (na && nb && Number(a[i]) !== Number(b[i])) return Number(a[i]) - Number(b[i]);
    if (na !== nb) return na ? -1 : 1;
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

export function compare(a, b) {
  for (let i = 0; i < 3; i++) if (a.nums[i] !== b.nums[i]) return a.nums[i] - b.nums[i];
  return cmpPre(a.pre, b.pre);
}

const OPS = {
  '>=': (c) => c >= 0, '<=': (c) => c <= 0, '>': (c) => c > 0, '<': (c) => c < 0,
  '==': (c) => c === 0, '!=': (c) => c !== 0, '=': (c) => c === 0,
};

// Returns a predicate on version strings, or null when ``text`` is no range.
export function versionFilter(text) {
  const src = text.trim();
  if (!src) return () => true;
  if (/^v?\d+(\.\d+)?$/.test(src) && !src.includes(',')) {
    const prefix = src.replace(/^v/, '');
    return (v) => v != null && (v.replace(/^v/, '') === prefix || v.replace(/^v/, '').startsWith(`${prefix}.`));
  }
  const clauses = [];
  for (const part of src.split(',')) {
    const m = /^\s*(>=|<=|==|!=|>|<|=|\^|~)?\s*(\S+)\s*$/.exec(part);
    const target = m && parse(m[2]);
    if (!target) return null;
    const op = m[1] || '==';
    if (op === '^' || op === '~') {
      const depth = op === '^' ? 1 : 2;
      clauses.push((v) => compare(v, target) >= 0 && v.nums.slice(0, depth).every((n, i) => n === target.nums[i]));
    } else {
      clauses.push((v) => OPS[op](compare(v, target)));
    }
  }
  return (version) => {
    const v = version == null ? null : parse(version);
    return v != null && clauses.every((c) => c(v));
  };
}
