"""CSV dialects (data.csv.sep, decimal, thousands, dayfirst, date_format): a file exported in
another locale reads to the same bars as the plain one once the settings say how it is written,
and without them the error names the file and the setting to make, instead of only what broke."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hostile import REPO, csv_text, daily_bars, error_line, updown, write_params
from updown.config import load_params
from updown.data.sources.csv_folder import fetch
from updown.data.validate import validate_all
from updown.errors import UpdownError
from updown.io import read_parquet, write_parquet

BASE = load_params(REPO / "params.yaml")
PRICES = ["open", "high", "low", "close", "adjusted_close"]
# Prices above 1000, so the thousands separator shows.
GOOD = daily_bars(n=400).assign(**{c: lambda f, c=c: (f[c] * 40).round(2) for c in PRICES})


def european(frame: pd.DataFrame, sep: str = ";") -> str:
    """The bars as a German spreadsheet exports them: 1.234,56 and ';' between fields."""
    out = frame.copy()
    for col in PRICES:
        out[col] = [
            f"{x:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".") for x in out[col]
        ]
    return out.to_csv(index=False, sep=sep, lineterminator="\n")


def day_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(timestamp=pd.to_datetime(frame["timestamp"]).dt.strftime("%d/%m/%Y"))


def config(folder: Path, **csv: object):
    return dataclasses.replace(
        BASE.data,
        source="csv",
        tickers=("X",),
        csv=dataclasses.replace(BASE.data.csv, path=str(folder), pattern="{ticker}.csv", **csv),
    )


def acquire_and_validate(folder: Path, text: str, **csv: object) -> pd.DataFrame:
    """The csv source, acquire's Parquet round trip and validate, in-process (as the fuzz test)."""
    (folder / "X.csv").write_text(text)
    raw = fetch(["X"], config(folder, **csv))["X"]
    write_parquet(raw, folder / "raw" / "X.parquet")
    cfg = dataclasses.replace(BASE.validate, min_rows=50)
    panel, _ = validate_all({"X": read_parquet(folder / "raw" / "X.parquet")}, cfg)
    return panel


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return acquire_and_validate(tmp_path_factory.mktemp("plain"), csv_text(GOOD))


def test_a_semicolon_file_with_decimal_commas_reads_as_the_plain_file_with_sep_decimal_thousands(
    tmp_path: Path, plain: pd.DataFrame
) -> None:
    panel = acquire_and_validate(tmp_path, european(GOOD), sep=";", decimal=",", thousands=".")
    assert panel["close"].iloc[0] > 1000  # the thousands separator was there to read
    pd.testing.assert_frame_equal(panel, plain)


def test_a_tab_separated_file_reads_with_sep_tab(tmp_path: Path, plain: pd.DataFrame) -> None:
    text = GOOD.to_csv(index=False, sep="\t", lineterminator="\n")
    pd.testing.assert_frame_equal(acquire_and_validate(tmp_path, text, sep="\t"), plain)


def test_a_semicolon_file_without_sep_names_data_csv_sep(tmp_path: Path) -> None:
    # Decimal points: the rows read as one column, and validate misses every column.
    with pytest.raises(UpdownError) as dotted:
        acquire_and_validate(tmp_path, GOOD.to_csv(index=False, sep=";", lineterminator="\n"))
    assert "looks like a ';'-separated file: set data.csv.sep: ';'" in str(dotted.value)
    assert "missing columns" in str(dotted.value)
    # Decimal commas split the rows: here a row with one comma more, and the file cannot parse.
    lines = european(GOOD).splitlines()
    lines[5] += ",1"
    with pytest.raises(UpdownError) as commas:
        acquire_and_validate(tmp_path, "\n".join(lines))
    message = str(commas.value)
    assert message.startswith(f"{tmp_path / 'X.csv'}: cannot parse")
    assert "looks like a ';'-separated file: set data.csv.sep: ';'" in message


def test_decimal_commas_without_decimal_name_data_csv_decimal_and_thousands(
    tmp_path: Path,
) -> None:
    with pytest.raises(UpdownError) as err:
        acquire_and_validate(tmp_path, european(GOOD), sep=";")
    message = str(err.value)
    assert "has non-numeric values" in message
    assert "set data.csv.decimal: ',' and data.csv.thousands: '.'" in message
    plain_thousands = GOOD.assign(close=[f"{x:,.2f}" for x in GOOD["close"]])
    with pytest.raises(UpdownError, match=r"set data.csv.thousands: ','"):
        acquire_and_validate(tmp_path, csv_text(plain_thousands))


@pytest.mark.parametrize("how", [{"dayfirst": True}, {"date_format": "%d/%m/%Y"}])
def test_day_first_dates_read_right_with_dayfirst_or_date_format(
    tmp_path: Path, plain: pd.DataFrame, how: dict[str, object]
) -> None:
    panel = acquire_and_validate(tmp_path, csv_text(day_first(GOOD)), **how)
    pd.testing.assert_frame_equal(panel, plain)


def test_day_first_dates_without_the_setting_name_the_row_and_data_csv_dayfirst(
    tmp_path: Path,
) -> None:
    with pytest.raises(UpdownError) as err:
        acquire_and_validate(tmp_path, csv_text(day_first(GOOD)))
    message = str(err.value)
    # 02/01/2001 .. 12/01/2001 read as 1 February .. 1 December; 15/01/2001 (row 9) cannot.
    assert "'15/01/2001' at row 9 reads as day/month" in message
    assert "set data.csv.dayfirst: true, or data.csv.date_format" in message


def test_day_first_dates_that_look_month_first_run_backwards_and_say_so(tmp_path: Path) -> None:
    """Only the 1st to the 12th of each month: every date reads month-first, out of order."""
    early = GOOD[pd.to_datetime(GOOD["timestamp"]).dt.day <= 12].reset_index(drop=True)
    with pytest.raises(UpdownError) as err:
        acquire_and_validate(tmp_path, csv_text(day_first(early)))
    message = str(err.value)
    assert "timestamps are not in increasing order" in message
    assert "run backwards month-first" in message and "data.csv.dayfirst: true" in message
    panel = acquire_and_validate(tmp_path, csv_text(day_first(early)), dayfirst=True)
    assert len(panel) == len(early)


def test_a_date_that_misses_date_format_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        UpdownError, match=r"'2001-01-02' at row 0 does not match data.csv.date_format '%d/%m/%Y'"
    ):
        acquire_and_validate(tmp_path, csv_text(GOOD), date_format="%d/%m/%Y")


@pytest.mark.slow
def test_the_cli_names_the_file_the_ticker_and_data_csv_sep(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "EU.csv").write_text(GOOD.to_csv(index=False, sep=";"))
    params = {
        "data.source": "csv",
        "data.tickers": ["EU"],
        "data.csv.path": "in",
        "data.csv.pattern": "{ticker}.csv",
    }
    write_params(tmp_path / "params.yaml", params)
    assert updown("acquire", "--out-dir", "raw", cwd=tmp_path).returncode == 0
    done = updown(
        "validate", "--raw-dir", "raw", "--out", "p.parquet", "--report", "v.json", cwd=tmp_path
    )
    error_line(
        done,
        "validate",
        "ticker EU (in/EU.csv)",
        "looks like a ';'-separated file: set data.csv.sep: ';'",
    )


def test_sep_decimal_and_thousands_must_differ(tmp_path: Path) -> None:
    write_params(tmp_path / "params.yaml", {"data.csv.decimal": ","})
    with pytest.raises(UpdownError, match=r"data.csv.sep ',', data.csv.decimal ','"):
        load_params(tmp_path / "params.yaml")


# Dates as files write them; the day-first ones are the rows day_first_row must find.
DATE_TEXTS = [
    "2020-01-02",
    "2020-01-02 09:30:00-05:00",
    " 13/01/2020",
    "01/13/2020",
    "13.01.2020 10:00",
    "1-2-20",
    "31-12-2019",
    "12/31/2019",
    "2020/01/02",
    "Jan 13 2020",
    "",
    "13/13/2020",
    "5/6/2021",
]


def day_first_row_by_regex_alone(text: pd.Series) -> int | None:
    """day_first_row before its prefilter: the regex on every row."""
    from updown.data.sources.dialect import NUMERIC_DATE

    fields = text.astype("str").str.extract(NUMERIC_DATE)
    hits = (
        (pd.to_numeric(fields[0], errors="coerce") > 12)
        & (pd.to_numeric(fields[1], errors="coerce") <= 12)
    ).to_numpy()
    return int(hits.argmax()) if hits.any() else None


@pytest.mark.parametrize("seed", range(20))
def test_day_first_row_finds_the_row_the_regex_on_every_row_finds(seed: int) -> None:
    from updown.data.sources.dialect import day_first_row

    rng = np.random.default_rng(seed)
    text = pd.Series(rng.choice(DATE_TEXTS, size=int(rng.integers(1, 40))), dtype="str")
    if seed % 3 == 0:
        text[int(rng.integers(len(text)))] = None
    assert day_first_row(text) == day_first_row_by_regex_alone(text)


@pytest.mark.parametrize(
    "values",
    [
        ["2020-01-02", "2020-01-03", None],
        ["2020-01-02 09:30:00", "2020-01-02T10:30:00.250"],
        ["2020-03-08 01:00:00-05:00", "2020-03-08 03:00:00-04:00"],  # two offsets: an error
        ["2020-01-02", "Jan 3 2020"],  # not ISO: read value by value, as before
        ["1/2/2020", "2020-01-03"],
    ],
)
def test_iso_dates_parse_as_pandas_mixed_format_parses_them(values: list[str | None]) -> None:
    from updown.data.sources.normalise import _mixed

    text = pd.Series(values, dtype="str")
    try:
        expected = pd.to_datetime(text, format="mixed")
    except ValueError:
        with pytest.raises(ValueError):
            _mixed(text, utc=False)
        return
    pd.testing.assert_series_equal(_mixed(text, utc=False), expected)
