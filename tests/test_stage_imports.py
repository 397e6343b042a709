"""Each stage imports only what it needs: a per-ticker acquire job must not pay for LightGBM,
MLflow or scikit-learn, and nothing but track touches MLflow.

Every stage runs for real, with its own command from dvc.yaml, in a fresh interpreter on a copy of
the built sample project; the test reads which top-level packages ended up in sys.modules.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import project_env

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("sample_project")]

# Heavy packages (each costs a large part of a second or more to import) and the stages that may
# load them. Anything not listed for a stage must stay out of its process.
HEAVY = {
    "lightgbm",
    "mlflow",
    "sklearn",
    "scipy",
    "matplotlib",
    "pandera",
    "yfinance",
    "arch",
    "statsmodels",
    "sqlalchemy",
    "snakemake",
    "dvc",
}
ALLOWED = {
    "acquire": set(),  # the sample source reads arch's CSV without importing arch
    "validate": {"pandera"},
    "label": set(),
    "features": set(),
    # lightgbm imports scikit-learn (and so scipy) by itself when it is installed
    "train": {"lightgbm", "sklearn", "scipy"},
    "evaluate": {"lightgbm", "sklearn", "scipy", "matplotlib"},
    "track": {"lightgbm", "sklearn", "scipy", "matplotlib", "mlflow", "sqlalchemy"},
    "predict": {"lightgbm", "sklearn", "scipy"},
}

PROBE = """
import json, sys
from updown.cli import main
code = main({argv!r})
with open({out!r}, "w") as fh:
    json.dump(sorted({{name.split(".")[0] for name in sys.modules}}), fh)
sys.exit(code)
"""


@pytest.fixture(scope="module")
def stage_commands(built_sample_project: Path, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the built sample project and each stage's argv (one acquire job)."""
    project = tmp_path_factory.mktemp("imports") / "project"
    shutil.copytree(built_sample_project, project, symlinks=True)
    params = yaml.safe_load((project / "params.yaml").read_text())
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    commands = {}
    for name, spec in stages.items():
        argv = shlex.split(spec["cmd"].replace("${data.source}", params["data"]["source"]))
        stage = name.split("_")[0]  # acquire_04 -> acquire
        assert argv[:2] == ["updown", stage]
        commands.setdefault(stage, argv[1:])
    return project, commands


def imported_packages(project: Path, argv: list[str], out: Path) -> set[str]:
    code = PROBE.format(argv=argv, out=str(out))
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"updown {' '.join(argv)} failed:\n{done.stderr[-3000:]}"
    return set(json.loads(out.read_text()))


def test_every_stage_of_the_dag_is_checked(stage_commands) -> None:
    _, commands = stage_commands
    assert set(commands) == set(ALLOWED)


@pytest.mark.parametrize("stage", list(ALLOWED))
def test_stage_imports_only_the_heavy_packages_it_needs(stage_commands, stage, tmp_path) -> None:
    project, commands = stage_commands
    loaded = imported_packages(project, commands[stage], tmp_path / "modules.json")
    unexpected = sorted((loaded & HEAVY) - ALLOWED[stage])
    assert not unexpected, f"updown {stage} imported {unexpected}"


def test_acquire_loads_neither_lightgbm_nor_mlflow(stage_commands, tmp_path) -> None:
    project, commands = stage_commands
    loaded = imported_packages(project, commands["acquire"], tmp_path / "modules.json")
    assert "pandas" in loaded  # the probe saw a real acquire, not an early exit
    assert not {"lightgbm", "mlflow"} & loaded
