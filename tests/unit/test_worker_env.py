"""A worker's environment asks glibc's malloc for huge pages (``run.worker_env``)."""

from __future__ import annotations

from listen_service.run import MALLOC_HUGE_PAGES, worker_env


def test_a_worker_asks_for_malloc_huge_pages() -> None:
    env = worker_env({"PATH": "/usr/bin"})
    assert env == {"PATH": "/usr/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    assert MALLOC_HUGE_PAGES == "glibc.malloc.hugetlb=1"


def test_an_operators_other_tunables_are_kept() -> None:
    env = worker_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"


def test_an_operators_own_choice_of_huge_pages_wins() -> None:
    for own in ("glibc.malloc.hugetlb=0", "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2"):
        assert worker_env({"GLIBC_TUNABLES": own})["GLIBC_TUNABLES"] == own


def test_the_callers_environment_is_left_as_it_was() -> None:
    mine = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    worker_env(mine)
    assert mine == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
