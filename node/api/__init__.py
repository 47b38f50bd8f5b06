"""The aiohttp HTTP API. Depends on the store Protocol (node/store_protocol.py), never on consensus."""
