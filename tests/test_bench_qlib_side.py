"""The Qlib side of `make bench` cannot rot: the bin converter's files read back as Qlib reads them,
and the table's lines for a skipped, a finished and a compared run. Nothing here installs pyqlib
or looks at a time."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import qlib_side  # noqa: E402

HEADER = "timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient\n"


def _write(folder: Path, name: str, rows: list[str]) -> None:
    with gzip.open(folder / f"{name}.csv.gz", "wt") as out:
        out.write(HEADER + "".join(r + "\n" for r in rows))


@pytest.fixture
def two_tickers(tmp_path: Path) -> Path:
    folder = tmp_path / "csv"
    folder.mkdir()
    _write(
        folder,
        "AAA",
        [
            "1999-10-29,9,9,9,9,4.5,100,0,1",  # before the start: left out
            "1999-11-01,10,11,9,10,5,200,0,1",
            "1999-11-02,10,12,10,11,5.5,300,0,1",
            "1999-11-04,11,12,10,12,6,400,0,1",
        ],
    )
    # BRK.B starts a day later and has a bar on a day AAA lacks (11-03).
    _write(
        folder, "BRK.B", ["1999-11-02,20,21,19,20,20,50,0,1", "1999-11-03,20,22,20,21,21,60,0,1"]
    )
    with gzip.open(folder / "ERR.csv.gz", "wt") as out:  # a provider's message, as in the folder
        out.write('{\n    "Error Message": "Invalid API call"\n}\n')
    return folder


def _read_bin(path: Path) -> tuple[int, np.ndarray]:
    values = np.fromfile(path, dtype="<f4")
    return int(values[0]), values[1:]


def test_converter_writes_qlib_calendar_instruments_and_float32_bins_from_the_start_index(
    two_tickers: Path, tmp_path: Path
) -> None:
    out = tmp_path / "provider"
    info = qlib_side.convert(two_tickers, out, "1999-11-01", "2018-12-31")

    assert info == {"instruments": 2, "calendar_days": 4, "bars": 5, "skipped": ["ERR"]}
    calendar = (out / "calendars" / "day.txt").read_text().split()
    assert calendar == ["1999-11-01", "1999-11-02", "1999-11-03", "1999-11-04"]
    instruments = [
        line.split("\t") for line in (out / "instruments/all.txt").read_text().split("\n")
    ]
    assert instruments[:2] == [
        ["AAA", "1999-11-01", "1999-11-04"],
        ["BRK.B", "1999-11-02", "1999-11-03"],
    ]
    fields = {p.name for p in (out / "features" / "aaa").iterdir()}
    assert fields == {f"{f}.day.bin" for f in ("open", "high", "low", "close", "volume", "factor")}

    start, close = _read_bin(out / "features/aaa/close.day.bin")
    assert start == 0 and close.dtype == np.float32
    # Adjusted as Qlib's Yahoo collector: close x factor = adjusted_close; a NaN on 11-03.
    np.testing.assert_array_equal(close, np.array([5, 5.5, np.nan, 6], dtype=np.float32))
    _, factor = _read_bin(out / "features/aaa/factor.day.bin")
    np.testing.assert_allclose(factor[[0, 1, 3]], [0.5, 0.5, 0.5])
    _, volume = _read_bin(out / "features/aaa/volume.day.bin")
    np.testing.assert_allclose(volume[[0, 1, 3]], [400, 600, 800])
    _, high = _read_bin(out / "features/aaa/high.day.bin")
    np.testing.assert_allclose(high[[0, 1, 3]], [5.5, 6, 6])

    start, close = _read_bin(out / "features/brk.b/close.day.bin")
    assert start == 1  # its first bar is the calendar's second day
    np.testing.assert_array_equal(close, np.array([20, 21], dtype=np.float32))


def test_reserved_windows_names_get_qlibs_prefix() -> None:
    assert qlib_side.qlib_dir_name("CON") == "_qlib_con"
    assert qlib_side.qlib_dir_name("BRK.B") == "brk.b"


def test_dataset_follows_qlibs_alpha158_workflow_on_the_given_dates() -> None:
    config = qlib_side.dataset_config("1999-11-01", "2018-12-31", "2014-12-31", "2016-12-31")
    handler = config["kwargs"]["handler"]
    assert (config["class"], handler["class"]) == ("DatasetH", "Alpha158")
    assert handler["kwargs"]["fit_end_time"] == "2014-12-31"
    assert config["kwargs"]["segments"] == {
        "train": ["1999-11-01", "2014-12-31"],
        "valid": ["2015-01-01", "2016-12-31"],
        "test": ["2017-01-01", "2018-12-31"],
    }


def test_a_skipped_scenario_prints_its_reason_and_sets_no_target() -> None:
    skipped = {"skipped": "`install pyqlib` failed: ERROR: No matching distribution"}
    (line,) = qlib_side.render(skipped)
    assert "SKIPPED" in line and "No matching distribution" in line
    assert qlib_side.compare(skipped, None) is None
    assert qlib_side.targets(skipped) == []


def test_scenario_is_skipped_with_pips_error_when_pyqlib_cannot_be_installed(
    two_tickers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wheel path that does not exist: pip fails at once, without a registry.
    monkeypatch.setattr(qlib_side, "PYQLIB", str(tmp_path / "pyqlib-0.0.0-py3-none-any.whl"))
    dates = {"start": "1999-11-01", "end": "2018-12-31", "train_end": "x", "valid_end": "y"}

    def never(*args: object) -> None:
        raise AssertionError("nothing is measured when the side environment is missing")

    result = qlib_side.run(two_tickers, tmp_path / "work", dates, never)
    assert set(result) == {"skipped"}
    assert "pip install" in result["skipped"] and "ERROR" in result["skipped"]


def test_per_row_ratio_compares_seconds_per_row_of_both_builds() -> None:
    phase = {"self": 900.0, "workers": 400.0}
    build = {
        "qlib_version": "0.9.7",
        "rows": 2000,
        "learn_rows": 1990,
        "features": 158,
        "empty_features": ["VWAP0"],
        "phases": {
            "init": {"wall_s": 2.0, "cpu_s": 1.0, **phase},
            "dataset": {"wall_s": 78.0, "cpu_s": 99.0, **phase},
            "fit": {"wall_s": 60.0, "cpu_s": 110.0, **phase},
        },
        "fit_best_iteration": 42,
        "process": {"wall_s": 85.0, "cpu_s": 101.0, "max_rss_mb": 900.0},
    }
    q = {
        "venv": "reused",
        "load_before": [1.0],
        "convert": {"instruments": 2, "bars": 5, "calendar_days": 4, "skipped": []},
        "build": build,
    }
    q["convert"].update(wall_s=1.0, cpu_s=1.0, max_rss_mb=100.0)
    sp500 = {"stages": {"features": {"rows": 1000, "wall_s": 10.0, "cpu_s": 25.0}}}

    q["vs_updown"] = qlib_side.compare(q, sp500)
    # Qlib: 80 s for 2000 rows (0.04 s/row); updown: 10 s for 1000 rows (0.01 s/row): 4x.
    assert q["vs_updown"]["per_row_wall"] == 4.0
    assert q["vs_updown"]["per_row_cpu"] == 2.0
    wall, cpu = qlib_side.targets(q)
    assert wall["value"] == 0.25 and not wall["met"]  # exactly 4x is not under 1/4
    assert cpu["value"] == 0.5 and not cpu["met"]
    text = "\n".join(qlib_side.render(q))
    assert "158 features" in text and "4.0x wall" in text and "VWAP0" in text
    assert "fit (best iteration 42): 60.0 s wall" in text  # the fit is not in the per-row ratio
