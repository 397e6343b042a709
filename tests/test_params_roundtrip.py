"""`dvc exp run -S key=value` rewrites params.yaml through DVC's own round trip (ruamel.yaml, every
value replaced); the committed params.yaml is written in the form that round trip keeps, so a
set changes the line of that key and nothing else: no list exploded, no null emptied, no comment
or blank line moved."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest
from conftest import REPO
from updown.config import load_params
from updown.errors import UpdownError


def set_with_dvc(tmp_path: Path, override: str) -> tuple[list[str], Path]:
    """Apply one `-S` override with the function `dvc exp run` calls; the changed lines."""
    from dvc.utils.hydra import apply_overrides

    path = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", path)
    apply_overrides(str(path), [override])
    before = (REPO / "params.yaml").read_text().splitlines()
    diff = difflib.unified_diff(before, path.read_text().splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")], path


def test_setting_a_param_to_its_own_value_leaves_params_yaml_byte_identical(
    tmp_path: Path,
) -> None:
    changed, _ = set_with_dvc(tmp_path, "train.learning_rate=0.03")
    assert changed == []


@pytest.mark.parametrize(
    ("override", "old", "new"),
    [
        ("train.learning_rate=0.1", "  learning_rate: 0.03", "  learning_rate: 0.1"),
        ("features.candle=false", "  candle: true ", "  candle: false "),
        ("evaluate.backtest.cost_bps=7.5", "    cost_bps: 5.0 ", "    cost_bps: 7.5 "),
    ],
)
def test_dvc_set_param_changes_only_that_keys_line(
    tmp_path: Path, override: str, old: str, new: str
) -> None:
    changed, path = set_with_dvc(tmp_path, override)
    assert len(changed) == 2, changed
    assert changed[0].startswith("-" + old) and changed[1].startswith("+" + new), changed
    load_params(path)  # still valid for updown (schema, no duplicate keys)


def test_dvc_set_list_param_changes_only_that_lists_lines(tmp_path: Path) -> None:
    changed, path = set_with_dvc(tmp_path, "data.tickers=['^GSPC']")
    assert changed == ["-  - ^IXIC"]
    assert load_params(path).data.tickers == ("^GSPC",)


def test_the_dvc_friendly_params_yaml_still_refuses_a_duplicate_key(tmp_path: Path) -> None:
    text = (REPO / "params.yaml").read_text()
    path = tmp_path / "params.yaml"
    path.write_text(text.replace("  min_rows: 300", "  min_rows: 300\n  min_rows: 200", 1))
    with pytest.raises(UpdownError, match=r"duplicate key validate\.min_rows"):
        load_params(path)
