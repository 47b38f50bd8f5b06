"""How much one GraphQL query may ask of a node: depth, cost, aliases, checked before it runs.

One validation rule (graphql-core's ``ValidationRule``) measures each
operation once, fragments included, and refuses it with an error naming
the limit (``extensions.limit``: the setting in node/config.py):

- depth: the deepest field nesting (``graphql_max_depth``);
- cost: every field costs 1, times the size of each list it is inside: the
  list's ``limit`` argument when given, or that of the field returning the
  page it is in (``instances(limit: 50) { instances {...} }``; 10000 when
  it is a variable, which validation cannot see), 10 for the lists inside
  one record or service (metadata, interfaces, counts, versions,
  dependencies), 100 for any other list of objects (``graphql_max_cost``).
  A list of scalars is a leaf;
- aliases (``graphql_max_aliases``).

Introspection is allowed, under bounds of its own: it reads the schema, not
the registry, so its cost is its field count, but lists under ``__schema``
and ``__type`` may nest three deep at most (the standard introspection query
nests types, fields, args) and 16 levels in all, which stops a small query
from multiplying the schema by itself. A fragment is measured once however
often it is spread, so a fragment bomb costs its measure, not its expansion.
The query text's size is checked before parsing, in view.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from graphql import (FieldNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode, IntValueNode,
                     OperationDefinitionNode, ValidationRule, VariableNode, get_named_type, get_nullable_type,
                     is_composite_type, is_list_type)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

from ..params import MAX_LIMIT

log = logging.getLogger("manifest.api.graphql")

DEFAULT_LIST = 100  # a list of objects without a limit
# Lists inside one record or one service, short by nature (a record holds at most 64 metadata keys).
EMBEDDED = {("Instance", "metadata"), ("Instance", "interfaces"), ("Service", "counts"), ("Service", "versions"),
            ("Service", "dependencies")}
EMBEDDED_LIST = 10
INTROSPECTION_DEPTH = 16
INTROSPECTION_LISTS = 3
_META = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}


@dataclass(frozen=True, slots=True)
class Measure:
    depth: int = 0
    cost: int = 0
    aliases: int = 0
    lists: int = 0  # introspection only: the most lists nested in one path


_ZERO = Measure()


def _limit(node: FieldNode) -> int | None:
    """The field's ``limit`` argument as a list size, None without one."""
    for arg in node.arguments or ():
        if arg.name.value == "limit":
            if isinstance(arg.value, IntValueNode):
                return max(1, min(int(arg.value.value), MAX_LIMIT))
            if isinstance(arg.value, VariableNode):
                return MAX_LIMIT
    return None


def _list_size(parent: str, node: FieldNode, page: int | None) -> int:
    size = _limit(node)
    if size is None:
        size = page  # a page's list (InstancePage.instances): the limit of the field that returned the page
    if size is None:
        size = EMBEDDED_LIST if (parent, node.name.value) in EMBEDDED else DEFAULT_LIST
    return size


class _Measurer:
    def __init__(self, schema, fragments: dict):
        self.schema, self.fragments = schema, fragments
        self.memo: dict[tuple, Measure] = {}
        self.busy: set[tuple] = set()
        self.intro_depth = self.intro_lists = 0

    def selections(self, selection_set, parent, intro: bool, page: int | None = None) -> Measure:
        depth = cost = aliases = lists = 0
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                m = self.field(sel, parent, intro, page)
            elif isinstance(sel, InlineFragmentNode):
                cond = sel.type_condition
                m = self.selections(sel.selection_set, self.schema.get_type(cond.name.value) if cond else parent,
                                    intro, page)
            elif isinstance(sel, FragmentSpreadNode):
                m = self.fragment(sel.name.value, intro, page)
            else:
                continue
            depth, cost = max(depth, m.depth), cost + m.cost
            aliases, lists = aliases + m.aliases, max(lists, m.lists)
        return Measure(depth, cost, aliases, lists)

    def fragment(self, name: str, intro: bool, page: int | None) -> Measure:
        key = (name, intro, page)
        if key in self.memo:
            return self.memo[key]
        definition = self.fragments.get(name)
        if definition is None or key in self.busy:
            return _ZERO  # unknown or cyclic: graphql-core's own rules report those
        self.busy.add(key)
        m = self.selections(definition.selection_set, self.schema.get_type(definition.type_condition.name.value),
                            intro, page)
        self.busy.discard(key)
        self.memo[key] = m
        return m

    def field(self, node: FieldNode, parent, intro: bool, page: int | None) -> Measure:
        name = node.name.value
        alias = 1 if node.alias is not None else 0
        fdef = _META.get(name) if not intro and name in _META else None
        if fdef is None and parent is not None and hasattr(parent, "fields"):
            fdef = parent.fields.get(name)
        if fdef is None:  # __typename, or a field the schema lacks (reported by graphql-core)
            return Measure(1, 1, alias)
        named = get_named_type(fdef.type)
        many = is_list_type(get_nullable_type(fdef.type)) and is_composite_type(named)
        if not is_composite_type(named) or node.selection_set is None:
            return Measure(1, 1, alias)
        if name in _META and not intro:
            inner = self.selections(node.selection_set, named, True)
            self.intro_depth = max(self.intro_depth, 1 + inner.depth)
            self.intro_lists = max(self.intro_lists, inner.lists)
            return Measure(1, 1 + inner.cost, alias + inner.aliases)
        if intro:
            inner = self.selections(node.selection_set, named, intro)
            return Measure(1 + inner.depth, 1 + inner.cost, alias + inner.aliases, inner.lists + many)
        inner = self.selections(node.selection_set, named, intro, None if many else _limit(node))
        size = _list_size(parent.name, node, page) if many else 1
        return Measure(1 + inner.depth, 1 + size * inner.cost, alias + inner.aliases)


def _refusal(message: str, code: str, setting: str, node) -> GraphQLError:
    return GraphQLError(message, nodes=[node], extensions={"code": code, "status": 400, "field": "query",
                                                            "limit": setting})


def rule(max_depth: int, max_cost: int, max_aliases: int) -> type[ValidationRule]:
    """A validation rule refusing operations past these limits (one class per node's settings)."""

    class QueryLimits(ValidationRule):
        def __init__(self, context):
            super().__init__(context)
            document = context.document
            fragments = {d.name.value: d for d in document.definitions if hasattr(d, "type_condition")}
            for op in document.definitions:
                if not isinstance(op, OperationDefinitionNode):
                    continue
                try:
                    measurer = _Measurer(context.schema, fragments)
                    m = measurer.selections(op.selection_set, context.schema.get_root_type(op.operation), False)
                    error = self._judge(m, measurer, op)
                except Exception:  # a bug here must not pass for the client's mistake (view.py: a 500)
                    log.exception("measuring a GraphQL query failed")
                    error = GraphQLError("internal error; the node's log has the details",
                                         extensions={"code": "internal", "status": 500})
                if error is not None:
                    context.report_error(error)

        @staticmethod
        def _judge(m: Measure, measurer: _Measurer, op) -> GraphQLError | None:
            if m.aliases > max_aliases:
                return _refusal(f"the query has {m.aliases} aliases; at most {max_aliases} are allowed "
                                "(graphql_max_aliases)", "max_aliases", "graphql_max_aliases", op)
            if m.depth > max_depth:
                return _refusal(f"the query nests fields {m.depth} deep; at most {max_depth} is allowed "
                                "(graphql_max_depth)", "max_depth", "graphql_max_depth", op)
            if measurer.intro_depth > INTROSPECTION_DEPTH or measurer.intro_lists > INTROSPECTION_LISTS:
                return _refusal(f"introspection may nest {INTROSPECTION_DEPTH} levels and "
                                f"{INTROSPECTION_LISTS} lists deep at most", "max_depth", "introspection", op)
            if m.cost > max_cost:
                return _refusal(f"the query's estimated cost is {m.cost}; at most {max_cost} is allowed "
                                "(graphql_max_cost; lists count by their limit, else 100: ask for less, "
                                "or page with limit and cursor)", "max_cost", "graphql_max_cost", op)
            return None

    return QueryLimits
