"""strawberry's WebSocket protocol handlers, with every client message checked before they see it.

strawberry takes a message's shape on trust: a ``subscribe`` whose query is
not a string reaches the parser (a logged traceback, no answer), a message
that is not an object raises. Here a malformed message closes the socket
with 4400 naming what is wrong, as graphql-transport-ws says, and a query
past ``graphql_max_query_bytes`` is refused for that operation alone, with
the error HTTP would give.
"""

from __future__ import annotations

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

_STARTS = ("subscribe", "start")  # graphql-transport-ws, graphql-ws


def malformed(message) -> str | None:
    """What is wrong with a client's message, or None."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "a message is a JSON object with a string type"
    if message["type"] not in _STARTS:
        return None
    payload = message.get("payload")
    if not isinstance(message.get("id"), str) or not isinstance(payload, dict):
        return f"{message['type']} needs a string id and an object payload"
    if not isinstance(payload.get("query"), str):
        return "payload.query must be a string holding a GraphQL document"
    for key in ("variables", "extensions"):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            return f"payload.{key} must be an object"
    if payload.get("operationName") is not None and not isinstance(payload["operationName"], str):
        return "payload.operationName must be a string"
    return None


def too_long(message, max_bytes: int) -> list[dict] | None:
    """The GraphQL errors refusing a start message whose query is longer than ``max_bytes``."""
    if message["type"] not in _STARTS:
        return None
    size = len(message["payload"]["query"].encode("utf-8", "surrogatepass"))
    if size <= max_bytes:
        return None
    return [{"message": f"the query is {size} bytes; at most {max_bytes} are allowed (graphql_max_query_bytes)",
             "extensions": {"code": "max_query_bytes", "status": 400, "field": "query",
                            "limit": "graphql_max_query_bytes"}}]


class TransportWS(BaseGraphQLTransportWSHandler):
    async def handle_message(self, message) -> None:
        wrong = malformed(message)
        if wrong is not None:
            await self.handle_invalid_message(wrong)
            return
        refused = too_long(message, self.view.max_query_bytes)
        if refused is not None:
            await self.send_message({"type": "error", "id": message["id"], "payload": refused})
            return
        await super().handle_message(message)


class LegacyWS(BaseGraphQLWSHandler):
    async def handle_message(self, message) -> None:
        wrong = malformed(message)
        if wrong is not None:
            await self.websocket.close(code=4400, reason=wrong)
            return
        refused = too_long(message, self.view.max_query_bytes)
        if refused is not None:
            await self.send_message({"type": "error", "id": message["id"], "payload": refused[0]})
            return
        await super().handle_message(message)
