"""`updown dvc-yaml`: render dvc.yaml from the Snakefile, or --check that it is current."""

from __future__ import annotations

import argparse

from updown.dag.dvc_yaml import main as render_main
from updown.errors import UpdownError


def run(a: argparse.Namespace) -> None:
    if render_main(check=a.check):
        raise UpdownError("dvc.yaml is out of date with the Snakefile: run `updown dvc-yaml`")
