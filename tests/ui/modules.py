"""Checks of the dashboard's pure modules, run inside the page (the browser is the only JS runtime here)."""

CHECKS = r"""
async () => {
  const { SSEParser } = await import('/ui/js/sse.js');
  const { versionFilter } = await import('/ui/js/semver.js');
  const { layered, impactOf } = await import('/ui/js/layout.js');
  const { Registry } = await import('/ui/js/registry.js');
  const out = {};

  // An event cut anywhere, CRLF included, parses the same.
  const text = 'retry: 1000\r\n\r\n: keep-alive\n\nid: 7\nevent: status\ndata: {"a":\ndata: 1}\n\n';
  const whole = new SSEParser().push(text);
  const p = new SSEParser();
  const pieces = [];
  for (let i = 0; i < text.length; i += 3) pieces.push(...p.push(text.slice(i, i + 3)));
  out.sse = { whole, pieces, retry: p.retry };

  const v = (range, version) => versionFilter(range)(version);
  out.semver = [v('>=1.2,<2', '1.4.0'), v('>=1.2,<2', '2.0.0'), v('^1.4', '1.9.1'), v('^1.4', '2.0.0'),
                v('~1.4.2', '1.4.9'), v('~1.4.2', '1.5.0'), v('1.4', '1.4.7'), v('1.4', '1.40.0'),
                v('<1.0.0', '1.0.0-rc.1'), versionFilter('>=x') === null];

  const edges = [{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }, { from: 'c', to: 'a' }, { from: 'd', to: 'c' }];
  const l1 = layered(['a', 'b', 'c', 'd'], edges);
  const l2 = layered(['d', 'c', 'b', 'a'], edges);
  out.layout = { same: JSON.stringify([...l1.pos]) === JSON.stringify([...l2.pos]), size: l1.pos.size };
  out.impact = [...impactOf('c', edges)].sort();

  const reg = new Registry();
  const rec = (id, status) => ({ name: 's', id, status, revision: 1, registered_at: '2026-01-01T00:00:00.000Z',
                                 last_heartbeat: '2026-01-01T00:00:00.000Z', ttl: 30 });
  reg.load([rec('1', 'up'), rec('2', 'up')], 5);
  const seen = [];
  reg.onChanges((c) => seen.push(...c.map((x) => [x.kind, x.rec.id, x.before, x.after])));
  reg.applyEvents([{ id: '4', event: 'expired', data: JSON.stringify(rec('1', 'down')) },
                   { id: '6', event: 'expired', data: JSON.stringify(rec('1', 'down')) },
                   { id: '9', event: 'reset', data: JSON.stringify({ instances: [rec('1', 'down'), rec('3', 'up')], revision: 9 }) }]);
  out.registry = { seen, size: reg.size, revision: reg.revision };
  return out;
}
"""


def check_modules(page) -> None:
    out = page.evaluate(CHECKS)
    event = {"id": "7", "event": "status", "data": '{"a":\n1}'}
    assert out["sse"]["whole"] == [event] and out["sse"]["pieces"] == [event] and out["sse"]["retry"] == 1000
    assert out["semver"] == [True, False, True, False, True, False, True, False, True, True]
    assert out["layout"] == {"same": True, "size": 4}  # a cycle still lays out, whatever the input order
    assert out["impact"] == [["a", 2], ["b", 1], ["d", 1]]
    # An event at or below the list's revision is skipped; a reset turns its differences into changes.
    assert out["registry"]["seen"] == [["expired", "1", "up", "down"], ["reset", "3", None, "up"],
                                       ["reset", "2", "up", None]], out["registry"]
    assert out["registry"]["size"] == 2 and out["registry"]["revision"] == 9
