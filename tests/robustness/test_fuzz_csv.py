"""Random malformed CSV files through the csv source, the raw Parquet round trip that acquire and
validate make, and the validator: every outcome is bars, a dropped ticker, or the project's own
one-line UpdownError, never another exception."""

from __future__ import annotations

import dataclasses
import gzip
import tempfile
from pathlib import Path

import pandas as pd
from hostile import REPO
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from updown.config import load_params
from updown.data.sources.csv_folder import fetch
from updown.data.validate import validate_all
from updown.errors import UpdownError
from updown.io import read_parquet, write_parquet

BASE = load_params(REPO / "params.yaml")
HEADER = ["timestamp", "open", "high", "low", "close", "adjusted_close", "volume"]

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(["0", "-1", "1e308", "-0.0", "nan", "NaN", "inf", "-inf", "1,5", "$12"]),
)
stamps = st.one_of(
    st.dates(min_value=pd.Timestamp("1990-01-01").date(), max_value=pd.Timestamp("2030-12-31").date()).map(str),
    st.datetimes(timezones=st.sampled_from([None])).map(lambda d: d.isoformat(sep=" ")),
    st.sampled_from(
        ["2019-03-10 02:30:00", "2019-11-03 01:30:00", "2020-01-02T14:30:00Z",
         "2020-01-02 09:30:00-05:00", "2020-07-01 09:30:00-04:00", "20200102", "1577923200",
         "yesterday", "2020-13-45", "0000-00-00", "", " "]
    ),
)  # fmt: skip
junk = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12).map(
    lambda t: t.replace("\r", " ")
)
cell = st.one_of(numbers, stamps, junk, st.just('"quoted, with comma"'), st.just('"unbalanced'))


def good_rows(n: int) -> list[list[str]]:
    days = pd.bdate_range("2001-01-02", periods=n).strftime("%Y-%m-%d")
    return [
        [
            d,
            f"{10 + i % 7}.5",
            f"{12 + i % 7}",
            f"{9 + i % 7}",
            f"{11 + i % 7}",
            f"{11 + i % 7}",
            "1000",
        ]
        for i, d in enumerate(days)
    ]


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A good file of daily bars with a few random wounds: hostile cells, junk lines, repeated
    or swapped rows, a damaged header, ragged rows."""
    header = list(HEADER)
    rows: list[list[str] | str] = list(good_rows(draw(st.integers(0, 30))))
    for _ in range(draw(st.integers(0, 4))):
        wound = draw(st.sampled_from(["cell", "cell", "line", "dup", "swap", "header", "ragged"]))
        if wound == "header":
            at = draw(st.integers(0, len(header) - 1))
            header[at] = draw(st.sampled_from(["", "x", "Close", "timestamp", header[at].upper()]))
            continue
        if not rows:
            continue
        at = draw(st.integers(0, len(rows) - 1))
        row = rows[at]
        if wound == "line":
            rows.insert(at, draw(junk))
        elif wound == "dup":
            rows.insert(at, row)
        elif wound == "swap":
            other = draw(st.integers(0, len(rows) - 1))
            rows[at], rows[other] = rows[other], rows[at]
        elif not row:
            continue
        elif isinstance(row, list) and wound == "ragged":
            cut = row[: draw(st.integers(0, len(row) - 1))]
            rows[at] = cut if draw(st.booleans()) else [*row, "extra"]
        elif isinstance(row, list):
            column = draw(st.integers(0, len(row) - 1))
            value = draw(stamps if column == 0 else st.one_of(numbers, cell))
            rows[at] = [*row[:column], value, *row[column + 1 :]]
    lines = [",".join(header)] + [r if isinstance(r, str) else ",".join(r) for r in rows]
    text = "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))
    return text.encode("utf-8")


def cfg_for(folder: Path, pattern: str, min_rows: int) -> tuple[object, object]:
    data = dataclasses.replace(
        BASE.data,
        source="csv",
        tickers=("FUZZ",),
        csv=dataclasses.replace(BASE.data.csv, path=str(folder), pattern=pattern),
    )
    return data, dataclasses.replace(BASE.validate, min_rows=min_rows)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    content=csv_files(),
    gz=st.booleans(),
    on_error=st.sampled_from(["fail", "drop"]),
    bad_rows=st.sampled_from(["drop", "fail"]),
    min_rows=st.integers(1, 5),
)
@example(content=b"", gz=False, on_error="fail", bad_rows="drop", min_rows=1)
@example(content=b"{\nError Message\n}\n", gz=True, on_error="drop", bad_rows="drop", min_rows=1)
@example(
    content=b"timestamp,open\n\xff\xfe,1\n", gz=False, on_error="fail", bad_rows="drop", min_rows=1
)
def test_malformed_csv_ends_in_bars_or_an_updown_error(
    content: bytes, gz: bool, on_error: str, bad_rows: str, min_rows: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pattern = "{ticker}.csv.gz" if gz else "{ticker}.csv"
        path = folder / pattern.format(ticker="FUZZ")
        path.write_bytes(gzip.compress(content) if gz else content)
        data, validate = cfg_for(folder, pattern, min_rows)
        validate = dataclasses.replace(validate, on_error=on_error, bad_rows=bad_rows)
        try:
            raw = fetch(["FUZZ"], data)["FUZZ"]  # type: ignore[arg-type]
            write_parquet(raw, folder / "raw" / "FUZZ.parquet")  # acquire's write ...
            raw = read_parquet(folder / "raw" / "FUZZ.parquet")  # ... and validate's read
            panel, report = validate_all({"FUZZ": raw}, validate)  # type: ignore[arg-type]
        except UpdownError as exc:
            assert "\n" not in " ".join(str(exc).split())
            assert str(exc).strip()
            event("refused")
            return
        # Whatever got through is clean bars: UTC, sorted, unique, positive and finite prices.
        assert report["tickers"]["FUZZ"]["status"] == "ok"
        event("kept")
        assert len(panel) >= min_rows
        assert str(panel["timestamp"].dt.tz) == "UTC"
        assert panel["timestamp"].is_monotonic_increasing and panel["timestamp"].is_unique
        prices = panel[["open", "high", "low", "close", "adj_close"]]
        assert (prices > 0).all().all() and bool(prices.map(pd.notna).all().all())
        assert (panel["high"] >= panel["low"]).all()
