"""Bad params.yaml and unsafe tickers: one line naming the key (exit 1, no traceback), through
the `updown` CLI that DVC runs and through `snakemake`, which refuses before any job starts, so
every output of the previous run stays byte-identical."""

from __future__ import annotations

import shutil
import time
from itertools import pairwise
from pathlib import Path

import pytest
from conftest import run
from hostile import REPO, error_line, fingerprint, stage_command, updown, write_params

# Every test here runs the real `updown` CLI: `make test` runs them, `make test-fast` not.
pytestmark = pytest.mark.slow

OUTPUTS = ("data", "models", "reports")

# case: (params changes, fragments of the message). The message names the file and the key.
CASES: dict[str, tuple[dict[str, object], list[str]]] = {
    "unknown-key": ({"train.learning_rat": 0.1}, ["train.learning_rat: unknown key (allowed:"]),
    "wrong-type": ({"train.num_leaves": "many"}, ["train.num_leaves: 'many' is not of type"]),
    "start-after-end": (
        {"data.start": "2019-01-01"},
        ["data.start (2019-01-01) must be before data.end (2018-12-31)"],
    ),
    "no-tickers": ({"data.tickers": []}, ["data.tickers: [] should be non-empty"]),
    "unknown-source": ({"data.source": "bloomberg"}, ["data.source: 'bloomberg' is not one of"]),
    "horizon-0": ({"label.horizon": 0}, ["label.horizon: 0 is less than the minimum of 1"]),
    "impossible-date": ({"data.end": "2018-02-30"}, ["data.end: '2018-02-30' is not a valid date"]),
    "ticker-dotdot": (
        {"data.tickers": ["../../etc/passwd"]},
        ["data.tickers[0]: ticker '../../etc/passwd' is not safe as a file name"],
    ),
    "ticker-slash": (
        {"data.tickers": ["a/b"]},
        ["data.tickers[0]: ticker 'a/b' is not safe as a file name"],
    ),
    "ticker-empty": (
        {"data.tickers": [""]},
        ["data.tickers[0]: ticker '' is not safe as a file name"],
    ),
    "ticker-long": (
        {"data.tickers": ["A" * 300]},
        ["data.tickers[0]: ticker 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA... (300 characters)"],
    ),
    "ticker-shell": (
        {"data.tickers": ["$(touch PWNED)"]},
        ["ticker '$(touch PWNED)' is not safe as a file name"],
    ),
}
YAML_ERROR = "data:\n  source: sample\n  tickers: [^GSPC\n  interval: 1d\n"


def _line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def duplicate_key(text: str) -> tuple[str, list[str]]:
    """params.yaml with validate.min_rows written twice: YAML would keep the second silently."""
    at = _line_of(text, "  min_rows: 300")
    lines = text.splitlines()
    lines.insert(at + 1, "  min_rows: 30")
    return "\n".join(lines) + "\n", [
        f"line {at + 2}: duplicate key validate.min_rows (also on line {at})",
        "YAML would silently keep the last value",
    ]


def alias_bomb(text: str) -> tuple[str, list[str]]:
    """A "billion laughs" in train.extra (9**9 nodes once expanded): the schema lets any mapping
    through there, and Snakemake would spend a minute expanding it before a MemoryError."""
    names = "abcdefghi"
    levels = ["    a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
        f"    {n}: &{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in pairwise(names)
    ]
    at = _line_of(text, "  extra: {}")
    lines = text.splitlines()
    lines[at - 1 : at] = ["  extra:", *levels]
    # 9 + 81 + 729 + 6561 nodes fit under the bound; the first alias of the next level does not.
    return "\n".join(lines) + "\n", [f"line {at + 5}: alias *d brings", "more than 10000"]


TEXT_CASES = {"duplicate-key": duplicate_key, "alias-bomb": alias_bomb}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_params_stop_a_stage_with_the_key(tmp_path: Path, case: str) -> None:
    changes, fragments = CASES[case]
    write_params(tmp_path / "params.yaml", changes)
    done = updown("label", "--prices", "in.parquet", "--out", "out.parquet", cwd=tmp_path)
    error_line(done, "label", "params.yaml: ", *fragments)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("case", sorted(TEXT_CASES))
def test_a_duplicate_key_or_an_alias_bomb_stops_a_stage_at_once_with_its_line(
    tmp_path: Path, case: str
) -> None:
    text, fragments = TEXT_CASES[case]((REPO / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(text)
    started = time.monotonic()
    done = updown("label", "--prices", "in.parquet", "--out", "out.parquet", cwd=tmp_path)
    error_line(done, "label", "params.yaml: ", *fragments)
    assert time.monotonic() - started < 30  # refused while parsing: nothing is expanded


def test_a_yaml_syntax_error_is_named_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text(YAML_ERROR)
    done = updown("label", "--prices", "in.parquet", "--out", "out.parquet", cwd=tmp_path)
    error_line(done, "label", "params.yaml: line 4, column", "YAML syntax error")


@pytest.mark.parametrize("ticker", ["../../etc/passwd", "a/b", "", "A" * 300, "x;rm -rf ~"])
def test_an_unsafe_ticker_on_the_command_line_is_refused(tmp_path: Path, ticker: str) -> None:
    write_params(tmp_path / "params.yaml", {})
    done = updown("acquire", "--ticker", ticker, "--out-dir", "raw", cwd=tmp_path)
    error_line(done, "acquire", "is not safe as a file name")
    assert not (tmp_path / "raw").exists()


@pytest.fixture(scope="module")
def built(built_sample_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("bad_params") / "project"
    shutil.copytree(built_sample_project, dest, symlinks=True)
    return dest


@pytest.mark.integration
@pytest.mark.parametrize(
    # One of each kind (the Snakefile runs the same check as the CLI above for all of them).
    "case",
    [
        "unknown-key",
        "wrong-type",
        "horizon-0",
        "ticker-dotdot",
        "ticker-shell",
        "yaml-syntax",
        "duplicate-key",
        "alias-bomb",
    ],
)
def test_snakemake_refuses_bad_params_before_any_job(built: Path, case: str) -> None:
    params = built / "params.yaml"
    good = params.read_text()
    before = fingerprint(built, *OUTPUTS)
    try:
        if case == "yaml-syntax":
            params.write_text(YAML_ERROR)
            fragments = ["line 4, column", "YAML syntax error"]
        elif case in TEXT_CASES:
            # The Snakefile reads params.yaml with updown's loader before its own configfile:
            # parse, so Snakemake never expands the bomb nor keeps the last duplicate.
            text, fragments = TEXT_CASES[case](good)
            params.write_text(text)
        else:
            write_params(params, CASES[case][0], base=params)
            fragments = CASES[case][1]
        done = run(["snakemake", "--cores", "1"], built, check=False, timeout=120)
    finally:
        params.write_text(good)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    lines = [x for x in done.stderr.splitlines() if x.startswith("updown: error: params.yaml: ")]
    assert len(lines) == 1, done.stderr[-3000:]
    assert all(f in lines[0] for f in fragments), lines[0]
    assert len(done.stderr.strip().splitlines()) == 1  # nothing else: no job ran
    assert fingerprint(built, *OUTPUTS) == before
    assert not (built / "PWNED").exists()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        (
            {"data.end": "2030-12-31", "split.valid_end": "2025-06-30"},
            # the last labelled bar: a 5-bar label from the next open needs 6 bars after it
            ["split.valid_end (2025-06-30) is on or after the data's last bar", "2018-12-20"],
        ),
        (
            {"data.start": "1990-01-01", "split.train_end": "1995-12-31"},
            ["split.train_end (1995-12-31) is before the data's first bar", "1999-01-04"],
        ),
    ],
    ids=["valid_end-after-data", "train_end-before-data"],
)
def test_split_dates_outside_the_data_stop_train_with_the_data_range(
    built: Path, tmp_path: Path, changes: dict[str, object], fragments: list[str]
) -> None:
    """params.yaml alone cannot tell: the data may start after data.start or end before
    data.end. Train checks the labelled rows' range before it trains."""
    params = write_params(tmp_path / "params.yaml", changes, base=built / "params.yaml")
    before = fingerprint(built, *OUTPUTS)
    done = updown(*stage_command(built, "train", params), cwd=built)
    error_line(done, "train", "the labelled data run from 1999-01-04 to", *fragments)
    assert fingerprint(built, *OUTPUTS) == before


def test_validate_names_a_ticker_that_no_acquire_job_fetched(tmp_path: Path) -> None:
    """A ticker added to params.yaml after dvc.yaml was rendered has no DVC acquire stage."""
    params = write_params(tmp_path / "params.yaml", {"data.tickers": ["^GSPC", "^IXIC"]})
    assert updown("acquire", "--ticker", "^GSPC", "--out-dir", "raw", cwd=tmp_path).returncode == 0
    done = updown(
        "validate",
        "--params",
        str(params),
        "--raw-dir",
        "raw",
        "--out",
        "prices.parquet",
        "--report",
        "validation.json",
        cwd=tmp_path,
    )
    error_line(done, "validate", "raw/^IXIC.parquet", "^IXIC of data.tickers", "updown dvc-yaml")
    assert not (tmp_path / "prices.parquet").exists()
