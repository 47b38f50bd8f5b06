"""Typed aiohttp AppKeys shared by the app factory and the handlers."""

from aiohttp import web

from ..config import NodeConfig

STORE = web.AppKey("store", object)
CONFIG = web.AppKey("config", NodeConfig)
METRICS = web.AppKey("metrics", object)
CHANGES = web.AppKey("changes", object)
HISTORY = web.AppKey("history", object)
RENDERED = web.AppKey("rendered", object)
READ_HEADERS = web.AppKey("read_headers", object)
WATCHES = web.AppKey("watches", object)
AUTH = web.AppKey("auth", object)
FEDERATION = web.AppKey("federation", object)
