"""The validation error and the free-text rule, shared by validation.py and fields.py (pure)."""

from __future__ import annotations

import re

# Free text (tags, metadata keys, addresses, interface endpoints) may be any
# Unicode but control characters and line separators: they would let a value
# forge lines wherever it is printed. A fixed list, not str.isprintable(),
# whose answer changes with the Unicode version of each node's Python.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")




def is_text(value) -> bool:
    """A string without control characters."""
    return type(value) is str and _CONTROL_RE.search(value) is None


class ValidationError(ValueError):
    """Input rejected; ``field`` names the offending field (dotted for nested ones)."""

    def __init__(self, field: str | None, message: str, code: str = "invalid"):
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code
