"""``Holds``: how many waits a web process lets clients hold at once (pure logic)."""

from __future__ import annotations

import threading

from listen_service.holds import Holds


def test_total_bound_turns_away_the_next_wait_until_one_ends() -> None:
    holds = Holds(total=3, per_client=10)
    releases = [holds.try_acquire(f"10.0.0.{i}") for i in range(3)]
    assert all(r is not None for r in releases)
    assert holds.try_acquire("10.0.0.9") is None
    releases[0]()  # type: ignore[misc]
    assert holds.try_acquire("10.0.0.9") is not None
    assert holds.held() == 3


def test_per_client_bound_leaves_room_for_other_clients() -> None:
    holds = Holds(total=10, per_client=2)
    assert holds.try_acquire("a") and holds.try_acquire("a")
    assert holds.try_acquire("a") is None
    assert holds.try_acquire("b") is not None
    assert holds.held("a") == 2 and holds.held("b") == 1


def test_release_counts_once_and_forgets_idle_clients() -> None:
    holds = Holds(total=2, per_client=2)
    release = holds.try_acquire("a")
    assert release is not None
    release()
    release()
    assert holds.held() == 0 and holds.held("a") == 0
    assert holds._by_client == {}


def test_zero_means_no_wait_is_held() -> None:
    assert Holds(total=0, per_client=5).try_acquire("a") is None
    assert Holds(total=5, per_client=0).try_acquire("a") is None


def test_concurrent_acquires_never_exceed_the_bound() -> None:
    holds = Holds(total=5, per_client=100)
    granted: list[object] = []
    barrier = threading.Barrier(50)

    def grab() -> None:
        barrier.wait()
        release = holds.try_acquire("a")
        if release is not None:
            granted.append(release)

    threads = [threading.Thread(target=grab) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 5 and holds.held() == 5
