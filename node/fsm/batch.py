"""BATCH: up to 500 registrations as one command, applied all or none (pure).

Everything that could refuse an item is decided before anything changes:
validation (the error names ``instances[i].field``), repeated keys, the
instance caps for all the new instances together, and, when strict, each
item's dependencies against the registry as it will be with the batch's own
up instances in it (a provider and its dependent may arrive together). Then
every item is written as a single registration would be: one event each.
"""

from __future__ import annotations

from . import deps
from .results import Batched, Code, failed
from .validation import ValidationError, validate_registration

MAX_ITEMS = 500


def validate_items(items) -> list[dict]:
    """Validated fields of every item, or ValidationError naming ``instances[i].field``."""
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise ValidationError("instances", f"instances must be a list of 1..{MAX_ITEMS} records")
    out, seen = [], set()
    for i, raw in enumerate(items):
        where = f"instances[{i}]"
        try:
            fields = validate_registration(raw)
        except ValidationError as exc:
            raise ValidationError(where if exc.field is None else f"{where}.{exc.field}",
                                  f"{where}: {exc.message}", exc.code) from None
        key = (fields["name"], fields.get("id"))
        if key[1] is not None and key in seen:
            raise ValidationError(where, f"{where} repeats {key[0]}/{key[1]}")
        seen.add(key)
        out.append(fields)
    return out


def apply(state, items, limits, opts, now: int, events: list):
    all_fields = validate_items(items)
    if any("id" not in f for f in all_fields):
        raise ValidationError("id", "ids must be stamped by the proposer", "required")
    if limits is not None:
        new = [f for f in all_fields if (f["name"], f["id"]) not in state.instances]
        per_service: dict[str, int] = {}
        for f in new:
            per_service[f["name"]] = per_service.get(f["name"], 0) + 1
        for name in sorted(per_service):
            refused = state._over_limit(name, limits, len(new), per_service[name])
            if refused is not None:
                return refused
    # Versions the batch itself brings up (instances with a check start as "starting").
    provided: dict[str, list] = {}
    for f in all_fields:
        if f["check"] is None:
            provided.setdefault(f["name"], []).append(f["version"])
    unmet_of = []
    for i, f in enumerate(all_fields):
        unmet = [d for d in f["dependencies"] if not state.idx.satisfied(d)
                 and not deps.satisfied_by(d, provided.get(deps.name_of(d), ()))]
        unmet_of.append(unmet)
        if unmet and isinstance(opts, dict) and opts.get("strict"):
            return failed(Code.UNMET_DEPENDENCY, f"instances[{i}]: unmet dependencies: " + ", ".join(unmet),
                          f"instances[{i}].dependencies")
    return Batched(tuple(state.write_registration(f, now, events, unmet)
                         for f, unmet in zip(all_fields, unmet_of)))
