"""Consul's ``filter`` expressions (the go-bexpr language), the common part of it.

    Service.Meta.version == "1.2"    Checks.Status != critical    "blue" in Service.Tags
    Service.Port == 8080 and not (Node.Node matches "^db-")    Service.Tags is not empty

Operators: ``==``, ``!=``, ``is [not] empty``, ``[not] in``, ``[not] contains``,
``[not] matches`` (a Python regular expression, where Consul's is Go's RE2),
``and``, ``or``, ``not`` and parentheses. Values are "double-quoted", `raw`
or bare words. A selector that crosses a list (``Checks.Status``) matches
when any element does (``!=``: when none does). Selectors are checked
against the shape of the endpoint's answer when the filter is parsed, so a
misspelt one is a 400 naming ``filter`` even when nothing would match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ... import errors

MAX_FILTER = 2048
_TOKEN = re.compile(r"""\s*(?:(?P<op>==|!=|\(|\))|"(?P<dq>(?:[^"\\]|\\.)*)"|`(?P<bq>[^`]*)`"""
                    r"""|(?P<word>[A-Za-z0-9_.:/@+*-]+(?:\["(?:[^"\\]|\\.)*"\][A-Za-z0-9_.]*)*))""")
_INDEX = re.compile(r'\["((?:[^"\\]|\\.)*)"\]')
_MISSING = object()
_BACKTRACKS = re.compile(r"\\[1-9]|\([^()]*[+*}|][^()]*\)\s*[+*{]")


def _bad(message: str) -> errors.InvalidInput:
    return errors.InvalidInput(f"filter: {message}", "filter")


@dataclass(frozen=True)
class Match:
    op: str  # == != empty in contains matches
    path: tuple[str, ...]
    value: str | None
    negate: bool
    pattern: Any = None


@dataclass(frozen=True)
class Bool:
    op: str  # and or not
    args: tuple


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise _bad(f"cannot read the expression at position {pos}")
        pos = m.end()
        if m.group("op"):
            out.append(("op", m.group("op")))
        elif m.group("dq") is not None:
            out.append(("str", re.sub(r"\\(.)", r"\1", m.group("dq"))))
        elif m.group("bq") is not None:
            out.append(("str", m.group("bq")))
        else:
            out.append(("word", m.group("word")))
    return out


def _selector(word: str) -> tuple[str, ...]:
    parts: list[str] = []
    for piece in re.split(r'(\["(?:[^"\\]|\\.)*"\])', word):
        if not piece:
            continue
        m = _INDEX.fullmatch(piece)
        if m:
            parts.append(re.sub(r"\\(.)", r"\1", m.group(1)))
        else:
            parts.extend(p for p in piece.split(".") if p)
    if not parts or not re.fullmatch(r"[A-Za-z_]", parts[0][:1]):
        raise _bad(f"{word!r} is not a selector")
    return tuple(parts)


class _Parser:
    def __init__(self, tokens):
        self.t, self.i = tokens, 0

    def peek(self, k: int = 0):
        return self.t[self.i + k] if self.i + k < len(self.t) else (None, None)

    def word(self, *choices: str) -> bool:
        kind, text = self.peek()
        if kind == "word" and text in choices:
            self.i += 1
            return True
        return False

    def take(self):
        tok = self.peek()
        if tok[0] is None:
            raise _bad("the expression ends too early")
        self.i += 1
        return tok

    def expr(self):
        left = self.conj()
        while self.word("or"):
            left = Bool("or", (left, self.conj()))
        return left

    def conj(self):
        left = self.unary()
        while self.word("and"):
            left = Bool("and", (left, self.unary()))
        return left

    def unary(self):
        if self.word("not"):
            return Bool("not", (self.unary(),))
        if self.peek() == ("op", "("):
            self.i += 1
            inner = self.expr()
            if self.take() != ("op", ")"):
                raise _bad("a ( is not closed")
            return inner
        return self.match()

    def value(self) -> str:
        kind, text = self.take()
        if kind not in ("str", "word"):
            raise _bad(f"expected a value, found {text!r}")
        return text

    def match(self):
        first_kind, first = self.take()
        negate = self.word("not")
        if self.word("in"):  # <value> [not] in <selector>
            kind, text = self.take()
            if kind != "word":
                raise _bad(f"expected a selector after 'in', found {text!r}")
            return Match("in", _selector(text), first, negate)
        if negate:
            raise _bad("'not' here must be followed by 'in'")
        if first_kind != "word":
            raise _bad(f"expected a selector, found {first!r}")
        path = _selector(first)
        kind, op = self.take()
        if (kind, op) in (("op", "=="), ("op", "!=")):
            return Match("==", path, self.value(), op == "!=")
        if kind == "word" and op == "is":
            negate = self.word("not")
            if not self.word("empty"):
                raise _bad("expected 'empty' after 'is'")
            return Match("empty", path, None, negate)
        negate = kind == "word" and op == "not"
        if negate:
            kind, op = self.take()
        if kind == "word" and op == "contains":
            return Match("contains", path, self.value(), negate)
        if kind == "word" and op == "matches":
            raw = self.value()
            if _BACKTRACKS.search(raw):
                # Consul's RE2 runs in linear time; Python's engine backtracks, and a
                # pattern like (a+)+$ would hold the node's event loop for minutes.
                raise _bad(f"{raw!r}: no backreferences, and no repeated group holding a repeat or an alternative")
            try:
                return Match("matches", path, raw, negate, re.compile(raw))
            except re.error as exc:
                raise _bad(f"bad regular expression {raw!r}: {exc}") from None
        raise _bad(f"unknown operator {op!r}")


def parse(text: str, shape: dict, maps: frozenset[str]):
    """The expression tree of ``text``, its selectors checked against ``shape`` (a sample answer
    entry; ``maps`` lists the dotted paths whose keys are free, like ``Service.Meta``)."""
    if len(text) > MAX_FILTER:
        raise _bad(f"longer than {MAX_FILTER} characters")
    p = _Parser(_tokens(text))
    tree = p.expr()
    if p.peek()[0] is not None:
        raise _bad(f"unexpected {p.peek()[1]!r}")
    _check(tree, shape, maps)
    return tree


def _check(node, shape: dict, maps: frozenset[str]) -> None:
    if isinstance(node, Bool):
        for arg in node.args:
            _check(arg, shape, maps)
        return
    here: Any = shape
    for depth, part in enumerate(node.path):
        if ".".join(node.path[:depth]) in maps:
            return  # any key of a map is a valid selector
        while isinstance(here, list):
            here = here[0] if here else {}
        key = _key(here, part) if isinstance(here, dict) else None
        if key is None:
            raise _bad(f"selector {'.'.join(node.path)!r} is not valid")
        here = here[key]


def _key(doc: dict, part: str) -> str | None:
    if part in doc:
        return part
    lowered = part.lower()
    return next((k for k in doc if k.lower() == lowered), None)


def _resolve(doc, path: tuple[str, ...]):
    """The value at ``path``; a list when the path crossed a list of objects."""
    here = doc
    for i, part in enumerate(path):
        if isinstance(here, list):
            found = [_resolve(item, path[i:]) for item in here]
            return [v for v in _flatten(found) if v is not _MISSING]
        if not isinstance(here, dict):
            return _MISSING
        key = _key(here, part)
        if key is None:
            return _MISSING
        here = here[key]
    return here


def _flatten(values):
    for v in values:
        if isinstance(v, list):
            yield from v
        else:
            yield v


def _text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def matches(node, doc) -> bool:
    if isinstance(node, Bool):
        if node.op == "not":
            return not matches(node.args[0], doc)
        if node.op == "and":
            return matches(node.args[0], doc) and matches(node.args[1], doc)
        return matches(node.args[0], doc) or matches(node.args[1], doc)
    found = _resolve(doc, node.path)
    if node.op == "empty":
        result = found is _MISSING or found in (None, "", [], {})
    elif node.op == "==":
        values = found if isinstance(found, list) else [found]
        result = any(v is not _MISSING and _text(v) == node.value for v in values)
    elif node.op in ("in", "contains"):
        if isinstance(found, dict):
            result = node.value in found
        elif isinstance(found, list):
            result = any(_text(v) == node.value for v in found)
        else:
            result = found is not _MISSING and node.value in _text(found)
    else:  # matches
        values = found if isinstance(found, list) else [found]
        result = any(v is not _MISSING and node.pattern.search(_text(v)) is not None for v in values)
    return result != node.negate
