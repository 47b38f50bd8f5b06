// Every request the dashboard makes to its own node goes through here, so
// one place adds the token and turns a 401 into the token prompt. The
// token lives in sessionStorage: it dies with the tab and is never sent to
// another origin (other members' /v1/health needs none).

const TOKEN_KEY = 'manifest.token';
let prompt = null; // one prompt for every request that got a 401 meanwhile

// Server time minus browser time (ms), from the Date header: heartbeat ages
// are computed against the registry's clock, not a skewed laptop's.
export const clock = { skew: 0, now: () => Date.now() + clock.skew };

export class ApiError extends Error {
  constructor(status, body, path) {
    super(body?.error?.message || `${path} answered ${status}`);
    this.status = status;
    this.code = body?.error?.code;
    this.field = body?.error?.field;
  }
}

export function authHeaders(extra = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

function noteDate(res) {
  const date = Date.parse(res.headers.get('Date') || '');
  // Date has one-second resolution: only a skew well past that is worth correcting.
  if (Number.isFinite(date)) {
    const skew = date - Date.now();
    clock.skew = Math.abs(skew) > 2000 ? skew : 0;
  }
}

async function bodyOf(res) {
  const type = res.headers.get('Content-Type') || '';
  return type.includes('json') ? res.json().catch(() => null) : null;
}

// Shows the token dialog; resolves once the user gave a token.
export function askToken(message) {
  if (prompt) return prompt;
  const dialog = document.getElementById('token-dialog');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const error = document.getElementById('token-error');
  error.hidden = !message;
  error.textContent = message || '';
  prompt = new Promise((resolve) => {
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      input.value = '';
      dialog.close();
      prompt = null;
      resolve();
    }, { once: true });
  });
  if (!dialog.open) dialog.showModal();
  return prompt;
}

// A 401 means "no token" or "this token is wrong": either way, ask again and retry.
export async function fetchAuthed(path, init = {}) {
  for (;;) {
    const res = await fetch(path, { cache: 'no-store', ...init, headers: authHeaders(init.headers) });
    if (res.status !== 401) return res;
    const body = await bodyOf(res);
    const had = sessionStorage.getItem(TOKEN_KEY);
    sessionStorage.removeItem(TOKEN_KEY);
    await askToken(had ? `That token was refused: ${body?.error?.message || '401'}` : '');
  }
}

// GET a JSON resource of this node. ``accept`` lists statuses that are answers, not errors.
export async function getJSON(path, { signal, timeout = 15000, accept = [] } = {}) {
  const signals = [AbortSignal.timeout(timeout)];
  if (signal) signals.push(signal);
  const res = await fetchAuthed(path, { headers: { Accept: 'application/json' }, signal: AbortSignal.any(signals) });
  noteDate(res);
  const body = await bodyOf(res);
  if (!res.ok && !accept.includes(res.status)) throw new ApiError(res.status, body, path);
  return { status: res.status, body, headers: res.headers, index: Number(res.headers.get('X-Manifest-Index')) };
}

// Another member's readiness, cross-origin and without a token (public by contract).
export async function memberHealth(apiUrl, timeout = 2500) {
  const res = await fetch(new URL('/v1/health', apiUrl), { cache: 'no-store', mode: 'cors',
    signal: AbortSignal.timeout(timeout) });
  return res.json();
}

// What this node's API offers beyond the contract's core, probed once:
// the features issue adds /v1/graph and ?include=removed later.
export const features = { graph: null, removed: null };

export async function probeGraph() {
  if (features.graph === false) return null;
  const r = await getJSON('/v1/graph', { accept: [404] });
  features.graph = r.status === 200;
  return features.graph ? r.body : null;
}
