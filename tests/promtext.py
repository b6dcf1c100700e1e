"""Reading ``/metrics`` in tests with prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of the exposition, by sample name and labels; fails on text it cannot parse."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in found, f"{key} twice in one scrape"
            found[key] = sample.value
    return found


def value(text: str | Samples, name: str, **labels: str) -> float:
    """The value of one sample; 0 when it is absent (a counter nobody moved yet)."""
    parsed = samples(text) if isinstance(text, str) else text
    return parsed.get((name, frozenset(labels.items())), 0.0)
