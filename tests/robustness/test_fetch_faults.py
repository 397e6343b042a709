"""Yahoo unreachable, slow or answering in part: bounded retries, one clear line, and the raw
snapshots fetched before stay byte-identical, through the CLI and through both orchestrators.

Snakemake deletes a job's outputs before running it and DVC deletes a stage's outs before
`repro`, so a failed refetch would lose the previous snapshot. The acquire rule declares its
output `update()` (Snakemake keeps the file and restores it if the job fails) and the rendered
dvc.yaml marks it `persist: true` (DVC leaves it in place); acquire itself writes only after
every requested ticker has arrived, atomically.

"Unreachable" and "slow" are real sockets: an HTTPS proxy on a closed port (connection refused)
and one that accepts connections and never answers (every request times out). "Partial" uses the
recorded-response fake Yahoo of tests/test_source_yfinance.py, through yfinance's own code.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run
from hostile import REPO, error_line, fingerprint, updown, write_params
from test_source_yfinance import FakeYahoo, data_cfg, yahoo  # noqa: F401 (yahoo: fixture)
from updown.config import load_params
from updown.dag.acquire_jobs import acquire_jobs
from updown.data.sources.yahoo import fetch
from updown.io import write_parquet
from yfinance.data import YfData

TICKERS = ["AAPL", "MSFT"]
FAST = {"data.yfinance.retries": 1, "data.yfinance.backoff_seconds": 0.1}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proxy_env(port: int) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}"
    return {"HTTPS_PROXY": url, "HTTP_PROXY": url, "https_proxy": url, "http_proxy": url}


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A proxy that accepts every connection and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def fetched(yahoo: FakeYahoo) -> dict[str, object]:  # noqa: F811 (the imported fixture)
    """Raw snapshots as a successful fetch left them (through yfinance's code, fake Yahoo)."""
    return dict(fetch(TICKERS, data_cfg(), sleep=lambda s: None))


def yfinance_project(project: Path, fetched: dict[str, object], **changes: object) -> Path:
    write_params(
        project / "params.yaml",
        {"data.source": "yfinance", "data.tickers": TICKERS, **FAST, **changes},
        base=project / "params.yaml"
        if (project / "params.yaml").exists()
        else REPO / "params.yaml",
    )
    for ticker, bars in fetched.items():
        write_parquet(bars, project / "data" / "raw" / "yfinance" / f"{ticker}.parquet")  # type: ignore[arg-type]
    if (project / "dvc.yaml").exists():  # its acquire stages list the tickers
        run(["updown", "dvc-yaml"], project)
    return project


@pytest.mark.integration
def test_unreachable_yahoo_keeps_previous_snapshots_under_snakemake_and_dvc(
    new_project, fetched: dict[str, object]
) -> None:
    project = yfinance_project(new_project(), fetched)
    before = fingerprint(project, "data/raw")
    assert len(before) == 2
    port = closed_port()
    raw = [f"data/raw/yfinance/{t}.parquet" for t in TICKERS]

    from conftest import project_env

    done = run(
        ["snakemake", "--cores", "1", "--keep-going", *raw, "--forcerun", *raw],
        project,
        check=False,
        env=project_env(proxy_env(port)),
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    for ticker in TICKERS:
        assert f"updown acquire: error: yfinance could not reach Yahoo for {ticker}" in done.stderr
        assert f"Restored previous version of data/raw/yfinance/{ticker}.parquet" in done.stderr
    assert "Connection refused" in done.stderr or "Could not connect" in done.stderr
    assert fingerprint(project, "data/raw") == before

    (aapl_job,) = [
        job
        for job, tickers in acquire_jobs(
            TICKERS, load_params(project / "params.yaml").data.acquire_jobs
        ).items()
        if "AAPL" in tickers
    ]
    done = run(
        ["dvc", "repro", "--single-item", aapl_job],
        project,
        check=False,
        env=project_env(proxy_env(port)),
    )
    assert done.returncode != 0
    assert "updown acquire: error: yfinance could not reach Yahoo for AAPL" in done.stderr
    assert "Traceback" not in done.stderr
    assert fingerprint(project, "data/raw") == before


def test_a_silent_network_times_out_within_the_bound(
    tmp_path: Path, fetched: dict[str, object], black_hole: int
) -> None:
    project = yfinance_project(tmp_path, fetched, **{"data.yfinance.timeout_seconds": 1})
    before = fingerprint(project, "data/raw")
    started = time.monotonic()
    done = updown(
        "acquire",
        "--out-dir",
        "data/raw/yfinance",
        cwd=project,
        extra_env=proxy_env(black_hole),
        timeout=120,
    )
    elapsed = time.monotonic() - started
    error_line(
        done,
        "acquire",
        "yfinance could not reach Yahoo for AAPL, MSFT",
        "after 2 attempts; last error: ",
        "timed out after 1",
        "data.yfinance.timeout_seconds",
    )
    # 2 attempts x 1 s timeout + 0.1 s backoff, plus start-up: not yfinance's 30 s per request.
    assert elapsed < 15, elapsed
    assert done.stderr.count("yfinance attempt") == 2  # one warning line per attempt
    assert fingerprint(project, "data/raw") == before


@pytest.fixture
def root_logging() -> Iterator[None]:
    """The CLI configures the root logger; give pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_partial_answer_is_retried_then_named_and_nothing_is_written(
    tmp_path: Path,
    yahoo: FakeYahoo,  # noqa: F811 (the imported fixture)
    fetched: dict[str, object],
    capsys: pytest.CaptureFixture[str],
    root_logging: None,
) -> None:
    from updown.cli import main

    project = yfinance_project(
        tmp_path, fetched, **{"data.start": "2024-03-01", "data.end": "2024-03-14",
                              "split.train_end": "2024-03-05", "split.valid_end": "2024-03-08"}
    )  # fmt: skip
    before = fingerprint(project, "data/raw")
    yahoo.empty_answers["MSFT"] = 99  # Yahoo answers AAPL, and nothing for MSFT, every time
    YfData.cache_get.cache_clear()  # a new process would not hold the earlier answers
    params = str(project / "params.yaml")
    code = main(["acquire", "--params", params, "--out-dir", str(project / "data/raw/yfinance")])
    err = capsys.readouterr().err
    assert code == 1
    lines = [x for x in err.splitlines() if x.startswith("updown acquire: error: ")]
    assert len(lines) == 1, err
    assert "yfinance returned no 1d bars for MSFT between 2024-03-01 and 2024-03-14" in lines[0]
    assert "after 2 attempts" in lines[0] and "AAPL" not in lines[0]
    # AAPL's bars did arrive, but acquire writes only when every ticker has: nothing changed.
    assert fingerprint(project, "data/raw") == before
    assert sorted(p.name for p in (project / "data/raw/yfinance").iterdir()) == [
        "AAPL.parquet",
        "MSFT.parquet",
    ]
