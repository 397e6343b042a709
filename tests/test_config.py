"""params.yaml is validated against the schema before anything runs; errors name the key."""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import pytest
import yaml
from updown import config
from updown.config import build_params, load_params
from updown.errors import UpdownError
from updown.safe_yaml import read_yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_shipped_params_are_valid_and_typed() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.data.source == "sample"
    assert params.data.tickers == ("^GSPC", "^IXIC")
    assert params.split.train_end < params.split.valid_end


def test_unknown_key_is_named_with_its_path(raw: dict) -> None:
    raw["train"]["learning_rat"] = 0.1
    with pytest.raises(UpdownError, match=r"train\.learning_rat: unknown key"):
        build_params(raw)


def test_wrong_type_is_named_with_its_path(raw: dict) -> None:
    raw["train"]["num_leaves"] = "many"
    with pytest.raises(UpdownError, match=r"train\.num_leaves: 'many' is not of type 'integer'"):
        build_params(raw)


@pytest.mark.parametrize("ticker", ["../../x", "a/b", "", "x" * 33, ".hidden"])
def test_unsafe_ticker_is_rejected(raw: dict, ticker: str) -> None:
    raw["data"]["tickers"] = ["AAPL", ticker]
    with pytest.raises(
        UpdownError, match=r"data\.tickers\[1\]: ticker .* is not safe as a file name"
    ):
        build_params(raw)


@pytest.mark.parametrize("ticker", ["BRK.B", "^GSPC", "EURUSD=X", "BF-B"])
def test_real_world_tickers_are_accepted(raw: dict, ticker: str) -> None:
    raw["data"]["tickers"] = [ticker]
    assert build_params(raw).data.tickers == (ticker,)


def test_start_after_end_is_refused(raw: dict) -> None:
    raw["data"]["start"], raw["data"]["end"] = "2019-01-01", "2018-01-01"
    with pytest.raises(UpdownError, match=r"data\.start .* must be before data\.end"):
        build_params(raw)


def test_split_dates_out_of_order_are_refused(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["split"]["train_end"] = "2017-06-30"
    with pytest.raises(UpdownError, match=r"split\.train_end < split\.valid_end"):
        build_params(bad)


def test_unknown_source_is_refused(raw: dict) -> None:
    raw["data"]["source"] = "bloomberg"
    with pytest.raises(UpdownError, match=r"data\.source: 'bloomberg' is not one of"):
        build_params(raw)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("data:\n  source: sample\n  tickers: [a, b\n")
    with pytest.raises(UpdownError, match=r"params\.yaml: line \d+, column \d+: YAML syntax error"):
        read_yaml(bad)


def test_new_validate_policies_are_typed_and_checked(raw: dict) -> None:
    params = build_params(raw)
    assert (params.validate.on_gap, params.validate.zero_volume) == ("split", "drop_features")
    raw["validate"]["on_gap"] = "ignore"  # reporting a gap and then spanning it is not a choice
    with pytest.raises(UpdownError, match=r"validate\.on_gap: 'ignore' is not one of"):
        build_params(raw)
    del raw["validate"]["on_gap"]
    with pytest.raises(UpdownError, match=r"validate: 'on_gap' is a required property"):
        build_params(raw)


def test_the_shipped_params_parse_as_plain_yaml_does() -> None:
    assert read_yaml(REPO / "params.yaml") == yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", r"line 3: duplicate key a \(also on line 1\)"),
        ("data:\n  x: 1\n  y: 2\n  x: 1\n", r"line 4: duplicate key data\.x \(also on line 2\)"),
        ("t:\n  - {p: 1}\n  - {q: 1, q: 2}\n", r"line 3: duplicate key t\[1\]\.q \(also on line 3"),
        ("m:\n  yes: 1\n  true: 2\n", r"line 3: duplicate key m\.true \(also on line 2\)"),
    ],
    ids=["top", "nested", "in-a-list", "same-value-spelled-twice"],
)
def test_a_duplicate_key_is_refused_with_its_path_and_both_lines(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(UpdownError, match=rf"params\.yaml: {message}"):
        read_yaml(path)


def test_a_merge_key_may_be_overridden_and_a_small_alias_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nmine:\n  <<: *b\n  x: 3\nsame: *b\n")
    assert read_yaml(path) == {
        "base": {"x": 1, "y": 2},
        "mine": {"x": 3, "y": 2},
        "same": {"x": 1, "y": 2},
    }


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses_the_bound(tmp_path: Path) -> None:
    levels = ["a: &a [" + ", ".join(["x"] * 10) + "]"]
    levels += [
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    path = tmp_path / "params.yaml"
    path.write_text("\n".join(levels) + "\n")  # 10**9 nodes once expanded
    started = time.monotonic()
    # a: 11 nodes; b: 10 x 11 = 110 via aliases; c: 10 x 111; d's first alias crosses 10000.
    with pytest.raises(
        UpdownError, match=r"params\.yaml: line 4: alias \*c brings .* more than 10000"
    ):
        read_yaml(path)
    assert time.monotonic() - started < 1


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(UpdownError, match=r"line 1: alias \*a refers to a node that contains it"):
        read_yaml(path)


# Configs that tests build by hand keep defaults; nowhere else may one live, since the schema
# requires every key and a default would never take effect.
DEFAULTS_ALLOWED = {
    "LabelConfig": "label",
    "SplitConfig": "split",
    "WalkForwardConfig": "split.walk_forward",
}


def test_dataclass_defaults_exist_only_where_allowed_and_equal_params_yaml() -> None:
    params = load_params(REPO / "params.yaml")
    for name, cls in vars(config).items():
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            continue
        with_default = [
            f
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        ]
        if not with_default:
            continue
        assert name in DEFAULTS_ALLOWED, (
            f"{name}.{with_default[0].name} has a default that never takes effect"
        )
        shipped = params
        for part in DEFAULTS_ALLOWED[name].split("."):
            shipped = getattr(shipped, part)
        for f in with_default:
            assert f.default == getattr(shipped, f.name), f"{name}.{f.name}"
