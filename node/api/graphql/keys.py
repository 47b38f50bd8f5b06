"""The GraphQL endpoint's AppKey: its schema and socket handler, built once per app."""

from aiohttp import web

ENDPOINT = web.AppKey("graphql", object)
