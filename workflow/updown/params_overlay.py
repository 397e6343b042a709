"""A second configuration written as the few keys it changes (examples/hourly.yaml), laid over
params.yaml into a whole params file. The overlay never falls behind: a key added to params.yaml
later reaches it, and the merged file is checked like any params.yaml (a misspelt key in the
overlay stops with its name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from updown.config import build_params
from updown.errors import UpdownError
from updown.safe_yaml import read_yaml


def overlay(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` laid over it: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = overlay(out[key], value)
        else:
            out[key] = value
    return out


def render(base_path: Path, overlay_path: Path) -> str:
    """The merged params file's text, checked against the schema and updown's own rules."""
    changes = read_yaml(overlay_path)
    if not isinstance(changes, dict):
        raise UpdownError(f"{overlay_path}: expected a mapping of params sections")
    merged = overlay(read_yaml(base_path), changes)
    build_params(merged, source=f"{overlay_path} (over {base_path})")
    header = (
        f"# Written by `updown params` from {base_path} with {overlay_path} laid over it:\n"
        "# edit those two, not this file.\n"
    )
    return header + yaml.safe_dump(merged, sort_keys=False, allow_unicode=True)
