"""Each stage imports only what it needs: a per-ticker acquire job must not pay for LightGBM,
MLflow or scikit-learn, and nothing but track touches MLflow.

Every stage runs for real, with its own command from dvc.yaml, in a fresh interpreter on a copy of
the built sample project; the test reads which top-level packages ended up in sys.modules.

Inside the package no two modules import each other, directly or through others (test_code_deps
holds the imports to module level): every module can be read, imported and tested on top of the
ones below it, and the served model's code is the scoring core without the stages around it.
"""

from __future__ import annotations

import ast
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import project_env
from updown.dag.code_deps import closure
from updown.dag.stage_path import PATH_FALLBACK

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "workflow" / "updown"

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
    # train fits scikit-learn baselines (and lightgbm imports scikit-learn when it can); the
    # stages that only load boosters import lightgbm without it (updown.cli.entry)
    "train": {"lightgbm", "sklearn", "scipy"},
    "evaluate": {"lightgbm", "scipy", "matplotlib"},
    "track": {"lightgbm", "scipy", "matplotlib", "mlflow", "sqlalchemy"},
    "predict": {"lightgbm", "scipy"},
}

PROBE = """
import json, sys
from updown.cli import entry
sys.argv = ["updown", *{argv!r}]  # as the console script starts
code = entry()
with open({out!r}, "w") as fh:
    json.dump(sorted({{name.split(".")[0] for name in sys.modules}}), fh)
sys.exit(code)
"""


# ------------------------------------------------------------ the package's own import statements


def package_modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package: its __init__.py)."""
    out = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def package_imports(module: str, path: Path) -> set[str]:
    """The package's dotted names that the import statements of `module` may load, outside
    `if TYPE_CHECKING:` (`from a import b` names a and a.b)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _is_type_checking(node):
            for child in node.orelse:  # type: ignore[attr-defined]
                visit(child)
            return
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names = [target, *(f"{target}.{a.name}" for a in node.names)]
        else:
            names = []
        found.update(n for n in names if n == "updown" or n.startswith("updown."))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_no_two_modules_of_the_package_import_each_other() -> None:
    modules = package_modules()
    graph = {
        module: {name for name in package_imports(module, path) if name in modules} - {module}
        for module, path in modules.items()
    }
    assert graph["updown.serve.track"] >= {"updown.serve.scoring", "updown.serve.serving"}
    assert not import_cycles(graph)
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_served_model_loads_the_scoring_core_not_the_stages() -> None:
    """The pyfunc model's code (what `mlflow models serve` imports) holds the scoring path
    shared with the predict stage and the CLI, and nothing of the stages around it."""
    served = set(closure("updown.serve.serving"))
    assert "updown.serve.scoring" in served
    assert not served & {"updown.serve.predict", "updown.serve.track", "updown.cli"}
    assert not any(m.startswith("updown.commands") for m in served)


# ------------------------------------------------------------------ the stages, run for real


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
        argv = argv[1:] if argv[0] == PATH_FALLBACK.replace('"', "") else argv  # venv on PATH
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


@pytest.mark.integration
def test_every_stage_of_the_dag_is_checked(stage_commands) -> None:
    _, commands = stage_commands
    assert set(commands) == set(ALLOWED)


@pytest.mark.integration
@pytest.mark.parametrize("stage", list(ALLOWED))
def test_stage_imports_only_the_heavy_packages_it_needs(stage_commands, stage, tmp_path) -> None:
    project, commands = stage_commands
    loaded = imported_packages(project, commands[stage], tmp_path / "modules.json")
    unexpected = sorted((loaded & HEAVY) - ALLOWED[stage])
    assert not unexpected, f"updown {stage} imported {unexpected}"


@pytest.mark.integration
def test_acquire_loads_neither_lightgbm_nor_mlflow(stage_commands, tmp_path) -> None:
    project, commands = stage_commands
    loaded = imported_packages(project, commands["acquire"], tmp_path / "modules.json")
    assert "pandas" in loaded  # the probe saw a real acquire, not an early exit
    assert not {"lightgbm", "mlflow"} & loaded
