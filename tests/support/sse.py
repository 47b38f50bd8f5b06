"""Parse Server-Sent Events from an aiohttp response (tests only)."""

from __future__ import annotations

import asyncio
import json


async def read_events(resp, count: int, timeout: float = 5.0, comments: list | None = None) -> list[dict]:
    """Read ``count`` events: dicts with id (int), event, data (parsed JSON)."""
    events: list[dict] = []
    current: dict = {}

    async def run():
        while len(events) < count:
            line = (await resp.content.readline()).decode()
            if line == "":
                raise EOFError("stream ended")
            line = line.rstrip("\n")
            if line == "":
                if "data" in current:
                    events.append({"id": int(current["id"]), "event": current["event"],
                                   "data": json.loads(current["data"])})
                current.clear()
            elif line.startswith(":"):
                if comments is not None:
                    comments.append(line)
            else:
                key, _, value = line.partition(": ")
                current[key] = value

    await asyncio.wait_for(run(), timeout)
    return events
