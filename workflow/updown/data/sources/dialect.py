"""CSV dialects: the `data.csv` settings for separator, dates and numbers, and the hints that name
the setting a file seems to need (a ';'-separated header, day-first dates, "1.234,56" numbers).

A hint never changes what is read: it travels with the bars (``attrs["hint"]``) and is added to
the error that the file then meets in `validate` (or to acquire's parse error), so the message
says which key to set rather than only what is wrong.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from updown.config import CsvConfig

# d/m/y or m/d/y with '/', '.' or '-' between the numbers, optionally a clock time after it.
# ISO dates (2024-03-08) start with four digits and do not match.
NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[./-](\d{1,2})[./-]\d{2,4}(?:\D|$)")
# Numbers as some locales write them: a decimal comma, with or without '.' or ' ' thousands.
_COMMA_DECIMAL = re.compile(r"^\s*[-+]?\d{1,3}(?:[. ]\d{3})*,\d+\s*$|^\s*[-+]?\d+,\d+\s*$")
# A comma (or '.') between groups of three digits: thousands separators.
_COMMA_THOUSANDS = re.compile(r"^\s*[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?\s*$")
_DOT_THOUSANDS = re.compile(r"^\s*[-+]?\d{1,3}(?:\.\d{3}){2,}\s*$")
_SEPARATORS = {";": "';'", "\t": "tab ('\\t')", "|": "'|'"}


def read_options(cfg: CsvConfig) -> dict[str, Any]:
    """pandas.read_csv arguments for data.csv.sep, decimal and thousands."""
    return {"sep": cfg.sep, "decimal": cfg.decimal, "thousands": cfg.thousands}


def separator_hint(header: list[str], sep: str) -> str | None:
    """A header read as one column that holds another separator: name data.csv.sep."""
    if len(header) != 1:
        return None
    for other, shown in _SEPARATORS.items():
        if other != sep and other in str(header[0]):
            return (
                f"the whole header is one column: it looks like a {shown}-separated file: "
                f"set data.csv.sep: {other!r}"
            )
    return None


def number_hint(column: str, values: pd.Series, cfg: CsvConfig) -> str | None:
    """Text in a price column that is a number in another locale's notation."""
    text = values.dropna().astype("str")
    comma_decimal = text[text.str.match(_COMMA_DECIMAL)]
    if len(comma_decimal) and cfg.decimal != ",":
        example = comma_decimal.iloc[0]
        dotted = "." in example
        return (
            f"column {column!r} holds numbers like {example!r} (decimal comma): set "
            "data.csv.decimal: ','" + (" and data.csv.thousands: '.'" if dotted else "")
        )
    for pattern, mark in ((_COMMA_THOUSANDS, ","), (_DOT_THOUSANDS, ".")):
        grouped = text[text.str.match(pattern)]
        if len(grouped) and cfg.thousands != mark:
            return (
                f"column {column!r} holds numbers like {grouped.iloc[0]!r}: set "
                f"data.csv.thousands: {mark!r}"
            )
    return None


def day_first_row(text: pd.Series) -> int | None:
    """The first row whose date has a day (> 12) before its month (<= 12), e.g. 13/01/2020: read
    month-first it is no date, and pandas would silently swap that row alone."""
    text = text.astype("str")
    # A numeric date has its first separator second or third: only such rows go through the
    # regex, row by row in Python (ISO dates, most files, have none: a whole file skips it).
    head = text.str.lstrip().str.slice(1, 3)
    maybe = np.zeros(len(text), dtype=bool)
    for mark in "./-":
        maybe |= head.str.contains(mark, regex=False, na=False).to_numpy(dtype=bool)
    rows = np.flatnonzero(maybe)
    fields = text.iloc[rows].str.extract(NUMERIC_DATE)
    if fields.empty:
        return None
    first = pd.to_numeric(fields[0], errors="coerce")
    second = pd.to_numeric(fields[1], errors="coerce")
    hits = ((first > 12) & (second <= 12)).to_numpy()
    return int(rows[hits.argmax()]) if hits.any() else None


def dayfirst_hint(text: pd.Series, parsed: pd.Series | None) -> str | None:
    """Numeric dates that are day-first: a day > 12 in the first field, or month-first times
    that run backwards where the day-first reading runs forward."""
    fix = "set data.csv.dayfirst: true, or data.csv.date_format (e.g. '%d/%m/%Y')"
    text = text.astype("str").str.strip()
    row = day_first_row(text)
    if row is not None:
        return f"{text.iloc[row]!r} at row {row} reads as day/month: {fix}"
    if parsed is None or parsed.is_monotonic_increasing:
        return None
    if not text.str.match(NUMERIC_DATE).all():
        return None
    swapped = pd.to_datetime(text, format="mixed", dayfirst=True, errors="coerce")
    if swapped.notna().all() and swapped.is_monotonic_increasing and swapped.is_unique:
        return f"the dates run backwards month-first ({text.iloc[0]!r}, ...) but forwards day-first: {fix}"
    return None


def date_format_hint(text: pd.Series, date_format: str) -> str | None:
    """The first value that does not match data.csv.date_format."""
    present = text.notna() & (text.astype("str").str.strip() != "")
    parsed = pd.to_datetime(text.where(present), format=date_format, errors="coerce")
    miss = (present & parsed.isna()).to_numpy()
    if not miss.any():
        return None
    row = int(miss.argmax())
    return f"{str(text.iloc[row])!r} at row {row} does not match data.csv.date_format {date_format!r}"
