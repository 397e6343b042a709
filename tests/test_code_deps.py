"""A stage's code is one of its inputs: every rule declares the package files its command runs,
derived from the imports, and editing one reruns exactly the stages that run it and what follows."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO, run
from test_pipeline import planned_jobs
from updown.dag.code_deps import (
    BY_PATH,
    PACKAGE_DIR,
    closure,
    module_path,
    stage_code,
    stage_modules,
)

COMMANDS = sorted(p.stem for p in (PACKAGE_DIR / "commands").glob("*.py") if p.stem != "__init__")
STAGES = ("acquire", "validate", "label", "features", "train", "evaluate", "track", "predict")
# What each stage's outputs feed (the DAG the README draws).
FEEDS = {
    "acquire": {"validate"},
    "validate": {"label", "features", "track", "predict", "evaluate"},
    "label": {"train", "evaluate", "track"},
    "features": {"train", "evaluate", "track"},
    "train": {"evaluate", "track", "predict"},
    "evaluate": {"track"},
    "track": {"predict"},
    "predict": set(),
}

# Each command imported in a fresh child of one process: the parent imports the CLI and the
# third-party libraries the stages use (none of them imports updown), then forks a child per
# command, which imports the command and reports the updown modules it then holds. The same
# modules as a new interpreter per command, without paying the libraries' import 16 times.
LOADED = """
import importlib, json, os, sys
importlib.import_module("updown.cli")
for lib in {libraries!r}:
    importlib.import_module(lib)
assert sorted(m for m in sys.modules if m.startswith("updown")) == ["updown", "updown.cli",
                                                                    "updown.errors", "updown.heap"]
out = {{}}
for command in {commands!r}:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        importlib.import_module("updown.commands." + command)
        held = sorted(m for m in sys.modules if m == "updown" or m.startswith("updown."))
        with os.fdopen(write, "w") as pipe:
            pipe.write(json.dumps(held))
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        out[command] = json.loads(pipe.read())
    assert os.waitpid(pid, 0)[1] == 0, command
print(json.dumps(out))
"""
LIBRARIES = ("numpy", "pandas", "pyarrow.parquet", "yaml", "jsonschema", "lightgbm", "sklearn",
             "mlflow", "matplotlib")  # fmt: skip


def downstream(stages: set[str]) -> set[str]:
    out = set(stages)
    while True:
        grown = out | {after for s in out for after in FEEDS[s]}
        if grown == out:
            return out
        out = grown


def function_level_imports(path: Path) -> list[str]:
    """`import updown...` statements inside a function body (TYPE_CHECKING blocks aside)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            names = []
            if isinstance(inner, ast.Import):
                names = [a.name for a in inner.names]
            elif isinstance(inner, ast.ImportFrom):
                names = ["updown" if inner.level else (inner.module or "")]
            if any(n == "updown" or n.startswith("updown.") for n in names):
                found.append(f"{path.relative_to(REPO)}:{inner.lineno}")
    return found


def test_package_modules_import_each_other_at_module_level_only() -> None:
    """So that the static closure of a command's imports is what the command loads."""
    offenders = [
        hit for p in sorted(PACKAGE_DIR.rglob("*.py")) for hit in function_level_imports(p)
    ]
    assert offenders == []
    dynamic = [
        p.relative_to(REPO).as_posix()
        for p in PACKAGE_DIR.rglob("*.py")
        if "import_module(" in p.read_text() and p.name != "cli.py"
    ]
    assert dynamic == []  # only the CLI picks a command module by name


@pytest.fixture(scope="module")
def loaded_by_command() -> dict[str, list[str]]:
    script = LOADED.format(libraries=LIBRARIES, commands=COMMANDS)
    return dict(json.loads(run(["python", "-c", script], REPO).stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_loads_exactly_the_modules_its_stage_declares(
    command: str, loaded_by_command: dict[str, list[str]]
) -> None:
    by_path = set().union(*BY_PATH.values())
    assert loaded_by_command[command] == [m for m in stage_modules(command) if m not in by_path]


def test_every_module_of_the_package_is_the_code_of_some_command() -> None:
    """A module no command reaches would be edited without rerunning anything."""
    reached = set().union(*(stage_modules(c) for c in COMMANDS))
    modules = {
        ".".join(("updown", *p.relative_to(PACKAGE_DIR).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        for p in PACKAGE_DIR.rglob("*.py")
    }
    # The Snakefile's own helpers shape the DAG (which jobs, which inputs) rather than run in it;
    # acquire_jobs' hash also picks a feature or label shard's tickers, so those stages run it.
    layout = {"updown.dag.code_deps"}
    assert {m for m in modules if module_path(m)} - reached == layout


def test_the_closure_follows_imports_through_other_modules() -> None:
    # features -> batches -> learn.features -> panel: reached only through other modules
    assert "updown.panel" in closure("updown.commands.features")
    assert "updown.learn.train" not in closure("updown.commands.features")
    assert "updown.learn.features" not in closure("updown.commands.label")


@pytest.mark.slow
def test_every_rule_declares_the_code_of_its_command_and_the_lock_file() -> None:
    script = (
        "import json; from pathlib import Path; from updown.dag.dvc_yaml import snakemake_jobs;"
        "jobs, _ = snakemake_jobs(Path('Snakefile'));"
        "print(json.dumps({j.rule.name: [j.shellcmd.split()[1], sorted(map(str, j.input))]"
        " for j in jobs}))"
    )
    jobs = json.loads(run(["python", "-c", script], REPO).stdout.strip().splitlines()[-1])
    assert {command for command, _ in jobs.values()} == set(STAGES)
    for rule, (command, inputs) in jobs.items():
        declared = {i for i in inputs if i.startswith("workflow/") or i == "requirements.lock"}
        assert declared == {*stage_code(command), "requirements.lock"}, rule


def module_of_each_stage() -> dict[str, str]:
    return {s: f"workflow/updown/commands/{s}.py" for s in STAGES}


@pytest.mark.integration
def test_editing_a_module_plans_exactly_the_stages_that_run_it_and_what_follows(
    built_sample_project: Path, tmp_path: Path
) -> None:
    p = tmp_path / "project"
    shutil.copytree(built_sample_project, p, symlinks=True)
    edits = {
        **{f: {s} for s, f in module_of_each_stage().items()},
        "workflow/updown/learn/features.py": {"features", "train", "track", "predict"},
        "workflow/updown/io.py": set(STAGES),
        "requirements.lock": set(STAGES),
    }
    for rel, running in edits.items():
        assert {s for s in STAGES if rel in [*stage_code(s), "requirements.lock"]} == running
        original = (p / rel).read_bytes()
        (p / rel).write_bytes(original + b"\n# an edit\n")
        dry = run(["snakemake", "--cores", "1", "--dry-run"], p)
        planned = {
            j.split("_")[0] if j.startswith("acquire_") else j for j in planned_jobs(dry.stdout)
        }
        assert planned - {"all"} == downstream(running), rel
        (p / rel).write_bytes(original)  # same bytes again: Snakemake's checksum says unchanged
    dry = run(["snakemake", "--cores", "1", "--dry-run"], p)
    assert "Nothing to be done" in dry.stdout + dry.stderr
