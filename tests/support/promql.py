"""The metric names a PromQL expression reads, for checking rules and dashboards against /metrics.

Not a PromQL parser: enough of its lexical shape to tell metric names from
functions, keywords, label names and literals. Label matchers (``{...}``),
ranges (``[5m]``), strings and ``by``/``without``/``on``/``ignoring``/
``group_*`` clauses are removed first; what is left that looks like an
identifier and is not followed by ``(`` is a metric name. Grafana's
variables (``$__rate_interval``) live inside ranges and matchers.
"""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_CLAUSE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_WORD = re.compile(r"(?<![\w:.$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan", "atan2", "start", "end"}


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _CLAUSE.sub(" ", text)
    # A bare number such as 1e3 or 0x1f is no name; ``\w`` before a match keeps 1e3's "e3" out.
    names = set()
    for m in _WORD.finditer(text):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names
