"""A site's listening figures from its counters: per article and in total.

``completion_rate`` is completions (100 % reached) per play, ``None`` before the
first play; ``listened_minutes`` is minutes of audio heard, counted a quarter of
the audio at each milestone reached (so a reader who stops at 60 % counts for
half its length).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from listen_service.analytics.store import COUNTERS


def figures(counts: Mapping[str, int]) -> dict[str, Any]:
    plays, completions = counts["plays"], counts["p100"]
    return {
        "plays": plays,
        "completions": completions,
        "completion_rate": round(completions / plays, 3) if plays else None,
        "listened_minutes": round(counts["listened_ms"] / 60_000, 2),
        "reached": {str(pct): counts[f"p{pct}"] for pct in (25, 50, 75, 100)},
        "speed_changes": counts["speed_changes"],
        "downloads": counts["downloads"],
    }


def totals(counted: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """The figures of all of a site's articles together, and how many were counted."""
    summed = dict.fromkeys(COUNTERS, 0)
    for counts in counted.values():
        for name in COUNTERS:
            summed[name] += counts[name]
    return {"articles": len(counted), **figures(summed)}


def site_stats(
    site: str, counted: Mapping[str, Mapping[str, int]], titles: Mapping[str, str | None]
) -> dict[str, Any]:
    """``{site, totals, articles}``, the articles most played first."""
    articles = [
        {"id": article, "title": titles.get(article), **figures(counts)}
        for article, counts in counted.items()
    ]
    articles.sort(key=lambda a: (-a["plays"], a["id"]))
    return {
        "site": site,
        "totals": totals(counted),
        "articles": articles,
    }
