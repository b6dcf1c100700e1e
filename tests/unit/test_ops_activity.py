"""The console's last hour (``ops.activity``) and its charts' geometry (``ops.charts``)."""

from __future__ import annotations

import pytest

from listen_service.ops import charts
from listen_service.ops.activity import Hour, Minute, last_hour, percentile
from workers.jobs import Job

NOW = 1_800_000_030.0  # 30 s into a minute


def job(status: str, ended_ago: float, **more: object) -> Job:
    fields: dict[str, object] = {
        "id": "ab" * 32,
        "status": status,
        "progress": 1.0,
        "error": None,
        "duration_s": None,
        "created": NOW - 7200,
        "updated": NOW - ended_ago,
        "attempts": 1,
        "accepted": NOW - ended_ago - 5,
        "first_audio_s": None,
        **more,
    }
    return Job(**fields)  # type: ignore[arg-type]


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (50.0, 95.0)
    assert percentile([5.0, 1.0, 3.0], 0.5) == 3.0


def test_last_hour_counts_ended_jobs_by_minute() -> None:
    jobs = [
        job("ready", 10, first_audio_s=0.3, synthesis_s=2.0, duration_s=60.0),
        job("ready", 20, first_audio_s=0.5, synthesis_s=4.0, duration_s=30.0),
        job("failed", 65),
        job("ready", 3560, first_audio_s=9.0),  # the oldest minute shown
        job("ready", 3580),  # just before it
        job("ready", 3700),  # before the hour
        job("working", 5),  # not ended
        job("queued", 5),
        job("ready", -5),  # a clock ahead of ours: not in the past hour
    ]
    hour = last_hour(jobs, NOW)
    assert len(hour.minutes) == 60
    assert hour.minutes[-1].start == NOW - 30  # the minute under way is the last
    assert (hour.minutes[-1].ready, hour.minutes[-1].failed) == (2, 0)
    assert (hour.minutes[-2].ready, hour.minutes[-2].failed) == (0, 1)
    assert hour.minutes[0].first_audio == (9.0,)
    assert (hour.ready, hour.failed) == (3, 1)
    assert sorted(hour.first_audio) == [0.3, 0.5, 9.0]
    assert sorted(hour.synthesis_s) == [2.0, 4.0]
    assert hour.audio_s == 90.0
    assert hour.minutes[-1].p50 == 0.3 and hour.minutes[-1].p95 == 0.5


@pytest.mark.parametrize(
    ("largest", "top"),
    [(0, 1.0), (0.3, 0.5), (1, 1.0), (1.2, 2.0), (3, 5.0), (7, 10.0), (45, 50.0)],
)
def test_the_top_of_a_chart_is_a_round_number(largest: float, top: float) -> None:
    assert charts.nice_top(largest) == pytest.approx(top)


def test_throughput_stacks_failed_on_ready() -> None:
    minutes = (*(Minute(NOW + 60 * i) for i in range(59)), Minute(NOW + 3540, 3, 1))
    chart = charts.throughput(Hour(minutes))
    assert chart.top == 5.0
    ready, failed = chart.bars
    assert (ready.kind, failed.kind) == ("ready", "failed")
    assert ready.height == pytest.approx(charts.HEIGHT * 3 / 5, abs=0.1)
    assert ready.y + ready.height == pytest.approx(charts.HEIGHT, abs=0.1)
    assert failed.y + failed.height == pytest.approx(ready.y, abs=0.1)
    assert ready.x > charts.WIDTH - 10  # the last minute, at the right
    assert "3 ready, 1 failed" in ready.title
    assert charts.throughput(Hour(minutes[:59])).empty


def test_latency_lines_break_where_a_minute_has_no_data() -> None:
    minutes = (Minute(NOW, 1, 0, (0.2,)), Minute(NOW + 60), Minute(NOW + 120, 2, 0, (0.4, 0.8)))
    chart = charts.latency(Hour(minutes))
    assert chart.top == 1.0
    p95 = [line for line in chart.lines if line.kind == "p95"]
    assert len(p95) == 2  # the empty minute breaks the line
    assert p95[1].dots == ((500.0, round(charts.HEIGHT * 0.2, 1)),)
    assert p95[1].points == f"500.0,{round(charts.HEIGHT * 0.2, 1)}"
