"""The aiohttp HTTP API. Depends on the Store interface, never on pysyncobj."""
