"""aiohttp's complaints about requests it cannot parse: one short info line at most every few seconds.

aiohttp answers a request it cannot parse (a bad method, an oversized
request line or header, too many headers, NUL in the path, Content-Length
together with Transfer-Encoding, broken chunks) itself, with a plain-text
400 that never reaches our handlers, and logs each one at ERROR with a
traceback: anyone who can reach the port can fill the log. They are the
client's fault, so here they become one info line, then nothing for
``every`` seconds, then a line carrying the count left out meanwhile.
Everything else aiohttp's server logs passes through unchanged.
"""

from __future__ import annotations

import logging
import re
import time

# The message aiohttp's RequestHandler.handle_error logs for such requests.
_PARSE_ERROR = "Error handling request"
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

log = logging.getLogger("manifest.http")


def _reason(exc) -> str:
    """The exception's message on one short printable line: it quotes what the client sent."""
    text = str(exc) if exc is not None else "unknown"
    text = " ".join(_UNPRINTABLE.sub(" ", text).split())
    return text[:200].encode("ascii", "backslashreplace").decode()


class ParseErrorLog(logging.LoggerAdapter):
    """The ``logger`` aiohttp's request handlers are given (through the app's handler_args)."""

    def __init__(self, every: float = 10.0, clock=time.monotonic, on_refused=None):
        super().__init__(logging.getLogger("aiohttp.server"), {})
        self._every, self._clock, self._on_refused = every, clock, on_refused
        self._quiet_until = float("-inf")
        self.suppressed = 0  # left out since the last line
        self.total = 0

    def log(self, level, msg, *args, **kwargs):
        if not (isinstance(msg, str) and msg.startswith(_PARSE_ERROR)):
            return super().log(level, msg, *args, **kwargs)  # real trouble in aiohttp's server
        self.total += 1
        if self._on_refused is not None:
            self._on_refused()
        if level < logging.INFO:
            # aiohttp's own choice for what is most often not HTTP at all (a bad
            # method first on a connection): shown only at --log-level debug.
            return super().log(level, msg, *args, **kwargs)
        now = self._clock()
        if now < self._quiet_until:
            self.suppressed += 1
            return None
        self._quiet_until = now + self._every
        remote = args[0] if args else None
        log.info("refused a malformed HTTP request (aiohttp's plain-text 400): %s", _reason(kwargs.get("exc_info")),
                 extra={"remote": remote, "suppressed": self.suppressed, "every_s": self._every})
        self.suppressed = 0
        return None
