"""Tickers spread over a fixed number of acquire jobs, so a new ticker reruns one small job."""

from __future__ import annotations

import re

import pytest
from conftest import run, set_params
from hypothesis import given
from hypothesis import strategies as st
from updown.dag.acquire_jobs import acquire_jobs

TICKER = st.from_regex(r"[A-Z][A-Z0-9.^=_-]{0,7}", fullmatch=True)


@given(st.lists(TICKER, unique=True, max_size=300), st.integers(1, 40))
def test_every_ticker_is_fetched_by_exactly_one_of_at_most_n_jobs(tickers, n) -> None:
    jobs = acquire_jobs(tickers, n)
    assert len(jobs) <= n
    assert all(jobs.values()), "no empty job"
    assert sorted(t for members in jobs.values() for t in members) == sorted(tickers)


@given(st.lists(TICKER, unique=True, min_size=1, max_size=300), TICKER, st.integers(1, 40))
def test_adding_a_ticker_changes_only_the_job_it_joins(tickers, new, n) -> None:
    if new in tickers:
        return
    before, after = acquire_jobs(tickers, n), acquire_jobs([*tickers, new], n)
    changed = {job for job in after if after[job] != before.get(job)}
    assert len(changed) == 1
    (job,) = changed
    assert after[job] == (*before.get(job, ()), new)


def test_the_assignment_is_the_same_on_every_run() -> None:
    # crc32 of the name, not Python's salted hash(): these are fixed forever
    assert acquire_jobs(["^GSPC", "^IXIC", "AAPL", "MSFT"], 16) == {
        "acquire_04": ("^GSPC",),
        "acquire_11": ("MSFT",),
        "acquire_12": ("AAPL",),
        "acquire_14": ("^IXIC",),
    }


def test_fewer_than_one_job_is_refused() -> None:
    with pytest.raises(ValueError, match=r"data\.acquire_jobs must be at least 1"):
        acquire_jobs(["AAPL"], 0)


@pytest.mark.integration
def test_snakemake_fetches_only_the_new_tickers_job(new_project) -> None:
    project = new_project()
    set_params(project, {"data.tickers": ["^GSPC"]})
    run(["snakemake", "--cores", "2", "data/interim/prices.parquet"], project)
    set_params(project, {"data.tickers": ["^GSPC", "^IXIC"]})
    plan = run(["snakemake", "-n", "data/interim/prices.parquet"], project).stdout
    stats = plan.split("Job stats:", 1)[1].split("total", 1)[0]
    assert re.findall(r"^(\w+)\s+1$", stats, re.M) == ["acquire_2", "validate"], plan
