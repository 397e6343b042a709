"""The configurations of a sweep, from params-style settings as `dvc exp run -S` takes them:
`train.learning_rate=0.01,0.03,0.1` (a comma list of YAML values) x `train.num_leaves=15,63`.

Each configuration is a dict of dotted keys; applying it to params.yaml's content gives that
configuration's params, validated like any params file before anything runs.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from typing import Any

import yaml

from updown.config import build_params
from updown.errors import UpdownError

#: Keys a sweep sets itself: the block every configuration is scored on.
RESERVED = ("evaluate.block",)


def parse_setting(text: str) -> tuple[str, list[Any]]:
    """`key=v1,v2` -> (key, [v1, v2]), each value read as YAML (0.1 a float, null None)."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise UpdownError(
            f"sweep: {text!r} is not KEY=VALUE[,VALUE...] (e.g. train.num_leaves=15,63)"
        )
    if key in RESERVED:
        raise UpdownError(f"sweep: {key} is set by the sweep itself (validation, then test once)")
    return key, [yaml.safe_load(v.strip()) for v in values.split(",")]


def configurations(settings: list[str]) -> list[dict[str, Any]]:
    """The grid: every combination of the settings' values, in the order given."""
    if not settings:
        raise UpdownError("sweep: give at least one -S KEY=VALUE[,VALUE...]")
    parsed = [parse_setting(s) for s in settings]
    keys = [k for k, _ in parsed]
    if len(set(keys)) != len(keys):
        raise UpdownError(f"sweep: a key is set twice in {', '.join(keys)}")
    return [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in parsed))
    ]


def apply(raw: dict[str, Any], changes: dict[str, Any], source: str) -> dict[str, Any]:
    """params.yaml's content with `changes` (dotted keys) applied, checked against the schema;
    an unknown key is named."""
    out = copy.deepcopy(raw)
    for dotted, value in changes.items():
        node = out
        *parents, last = dotted.split(".")
        for key in parents:
            if not isinstance(node.get(key), dict):
                raise UpdownError(f"sweep: {dotted}: {key!r} is not a section of {source}")
            node = node[key]
        if last not in node:
            raise UpdownError(f"sweep: {dotted}: no such key in {source}")
        node[last] = value
    build_params(out, f"{source} with {json.dumps(changes, default=str)}")
    return out


def config_id(changes: dict[str, Any]) -> str:
    """A short name for a configuration that only its settings decide."""
    text = json.dumps(changes, sort_keys=True, default=str)
    return "c" + hashlib.sha256(text.encode()).hexdigest()[:8]


def sweep_id(base: dict[str, Any], configs: list[dict[str, Any]]) -> str:
    """The sweep's name: the base params and the grid decide it, so rerunning a sweep resumes it."""
    text = json.dumps({"base": base, "grid": configs}, sort_keys=True, default=str)
    return "s" + hashlib.sha256(text.encode()).hexdigest()[:8]
