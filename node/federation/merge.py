"""Joining the answers of every region to one ``?region=*`` answer, each record labelled with its region.

``regions`` says how each region answered (its status and revision, or the
error); ``unavailable`` lists those that gave no usable answer (none in
time, or a refusal of the federation token), so a partial answer is never
mistaken for a whole one.
"""

from __future__ import annotations


def merged(order: list[str], answers: dict[str, tuple[int, object] | str]) -> tuple[int, dict]:
    """(status, body) from ``answers``: region -> (HTTP status, parsed body), an error message (no
    answer: 503) or a refusal's entry (``{"status": 403, "error", "code": "federation_refused"}``).

    A list body (``{"instances": [...]}``) contributes its instances, a
    record body (one instance) itself. 404 only when every region answered
    404 (none knows the service or instance); otherwise 200."""
    instances: list[dict] = []
    regions: dict[str, dict] = {}
    unavailable: list[str] = []
    for name in order:
        answer = answers.get(name, "no answer")
        if isinstance(answer, (str, dict)):  # no answer (a message) or a refusal ({"status", "error", "code"})
            unavailable.append(name)
            regions[name] = {"status": 503, "error": answer} if isinstance(answer, str) else dict(answer)
            continue
        status, body = answer
        entry: dict = {"status": status}
        if status == 200 and isinstance(body, dict):
            found = body.get("instances") if "instances" in body else [body]
            found = [r for r in found if isinstance(r, dict)]
            instances.extend({**r, "region": name} for r in found)
            entry["count"] = len(found)
            if "revision" in body:
                entry["revision"] = body["revision"]
            if body.get("next_cursor"):
                entry["next_cursor"] = body["next_cursor"]
        elif isinstance(body, dict) and isinstance(body.get("error"), dict):
            entry["error"] = body["error"].get("message")
        regions[name] = entry
    answered = [e["status"] for n, e in regions.items() if n not in unavailable]
    status = 404 if answered and not unavailable and all(s == 404 for s in answered) else 200
    return status, {"instances": instances, "regions": regions, "unavailable": unavailable}


def count(body: object) -> int:
    """Instances an answer holds: a list's length, 1 for one record (``?pick=``), 0 otherwise."""
    if isinstance(body, dict):
        if isinstance(body.get("instances"), list):
            return len(body["instances"])
        return 1 if "name" in body and "id" in body else 0
    return 0
