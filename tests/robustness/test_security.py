"""No code-executing formats, nothing from params or data run as code or through an unquoted
shell, the MLflow UI on localhost only, and no password in an error message."""

from __future__ import annotations

import ast
import importlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import project_env
from hostile import REPO, error_line, fingerprint, stage_command, updown

PACKAGE = REPO / "workflow" / "updown"
UNSAFE_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "dill",
    "cloudpickle",
    "joblib",
    "marshal",
    "shelve",
}
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}  # as bare names, not re.compile
UNSAFE_ATTRS = {
    "read_pickle", "to_pickle", "unsafe_load", "full_load", "system", "popen", "load_model_pickle",
}  # fmt: skip


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def safe_yaml_loader(path: Path, call: ast.Call) -> bool:
    """yaml.load(..., Loader=X) is safe when X builds plain data only (SafeLoader, CSafeLoader
    or a subclass), resolved in the module that makes the call."""
    loader = next((kw.value for kw in call.keywords if kw.arg == "Loader"), None)
    if isinstance(loader, ast.Attribute):
        obj = getattr(yaml, loader.attr, None)
    elif isinstance(loader, ast.Name) and PACKAGE in path.parents:
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        obj = getattr(importlib.import_module(module), loader.id, None)
    else:
        return False
    return (
        isinstance(obj, type)
        and issubclass(obj, yaml.constructor.SafeConstructor)
        and not issubclass(obj, yaml.constructor.FullConstructor)
    )


def findings(path: Path) -> list[str]:
    """Every use in `path` of pickle-like modules, eval/exec, yaml.load, os.system, shell=True,
    pandas pickles and allow_pickle."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names]
            if isinstance(node, ast.ImportFrom) and node.module:
                names.append(node.module)
            out += [f"{where}: imports {n}" for n in names if n.split(".")[0] in UNSAFE_MODULES]
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in UNSAFE_CALLS:
                out.append(f"{where}: calls {func.id}()")
            if isinstance(func, ast.Attribute):
                if func.attr in UNSAFE_ATTRS:
                    out.append(f"{where}: calls .{func.attr}()")
                if (
                    func.attr == "load"
                    and isinstance(func.value, ast.Name)
                    and func.value.id == "yaml"
                    and not safe_yaml_loader(path, node)
                ):
                    out.append(f"{where}: calls yaml.load() without a safe Loader")
            for kw in node.keywords:
                if kw.arg in {"shell", "allow_pickle"} and not (
                    isinstance(kw.value, ast.Constant) and kw.value.value is False
                ):
                    out.append(f"{where}: passes {kw.arg}=...")
    return out


def test_the_scan_catches_what_it_looks_for(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import pickle, yaml, subprocess, os\nfrom joblib import dump\n"
        "eval('1')\nyaml.load('a')\nsubprocess.run('ls', shell=True)\nos.system('ls')\n"
        "import pandas as pd\npd.read_pickle('x')\nimport numpy as np\nnp.load('x', allow_pickle=True)\n"
    )
    # findings() names paths relative to the repository; give it a file inside it.
    inside = PACKAGE / "__scan_probe__.py"
    try:
        shutil.copy(bad, inside)
        found = findings(inside)
    finally:
        inside.unlink()
    assert len(found) == 8, found


def test_the_package_uses_no_pickle_eval_exec_or_shell() -> None:
    assert len(package_files()) > 10
    found = [f for path in package_files() for f in findings(path)]
    assert found == []


def test_tickers_reach_the_shell_quoted_and_from_a_safe_alphabet() -> None:
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    uses = re.findall(r".?--ticker [^\"]*\"", rules)
    assert uses and all(u == "\"--ticker '{t}'\"" for u in uses), uses
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    cmds = [s["cmd"] for name, s in dvc["stages"].items() if name.startswith("acquire_")]
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for ticker in params["data"]["tickers"]:
        assert sum(f"--ticker '{ticker}' " in cmd for cmd in cmds) == 1, ticker
    # Single quotes protect everything but a quote: no accepted ticker can hold one, nor any
    # character a shell or a path treats specially.
    schema = yaml.safe_load((REPO / "workflow/schemas/params.schema.yaml").read_text())
    pattern = schema["properties"]["data"]["properties"]["tickers"]["items"]["pattern"]
    for char in "'\"`$;|&<>()\\/ \t\n*?[]{}!#~":
        assert not re.fullmatch(pattern, f"A{char}B"), char
    for ticker in ("^GSPC", "BRK-B", "BF.B", "EURUSD=X", "7203.T"):
        assert re.fullmatch(pattern, ticker)


@pytest.mark.integration
def test_models_and_logged_artifacts_are_text_never_pickles(built_sample_project: Path) -> None:
    model = built_sample_project / "models" / "model.txt"
    assert model.read_text().startswith("tree\nversion=v")  # LightGBM's text format
    files = [
        p
        for folder in ("data", "models", "reports", "mlruns", "mlartifacts")
        for p in (built_sample_project / folder).rglob("*")
        if p.is_file()
    ]
    assert any("mlruns" in p.parts or "mlartifacts" in p.parts for p in files)
    pickles = [
        str(p)
        for p in files
        if p.suffix in {".pkl", ".pickle", ".joblib", ".pt", ".sav"}
        or re.match(rb"\x80[\x02-\x05]", p.read_bytes()[:2])
    ]
    assert pickles == []
    mlmodels = [p for p in files if p.name == "MLmodel"]
    assert mlmodels
    for mlmodel in mlmodels:
        flavors = yaml.safe_load(mlmodel.read_text())["flavors"]
        if "lightgbm" in flavors:  # MLflow's LightGBM flavour: the booster as LightGBM text
            data = mlmodel.parent / flavors["lightgbm"]["data"]
            assert data.read_text().startswith("tree\nversion=v"), data
        pyfunc = flavors["python_function"]
        # Loaded by the LightGBM flavour, or from our code file: never an unpickled object.
        assert pyfunc["loader_module"] in {"mlflow.lightgbm", "mlflow.pyfunc.loaders.code_model"}
        assert "python_model" not in pyfunc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.integration
def test_make_ui_serves_on_localhost_only(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    port = free_port()
    env = project_env({"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    bin_dir = str(Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin")
    proc = subprocess.Popen(
        ["make", "-s", "-C", str(REPO), "ui", f"PORT={port}", "STAMP=", f"BIN={bin_dir}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not listening(port) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        addresses = listening(port)
        assert addresses, proc.stdout.read() if proc.poll() is not None else "never listened"
        assert addresses == {"0100007F"}  # 127.0.0.1, not 0.0.0.0 or ::
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.integration
@pytest.mark.parametrize("where", ["environment", "params"])
def test_a_password_in_the_tracking_uri_never_reaches_a_message_or_file(
    built_sample_project: Path, tmp_path: Path, where: str
) -> None:
    project = tmp_path / "project"
    shutil.copytree(built_sample_project, project, symlinks=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: the server is unreachable
    secret = "s3cr3t-Pa55word"
    uri = f"http://alice:{secret}@127.0.0.1:{port}"
    before = fingerprint(project, "reports", "models", "data")
    extra = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    if where == "environment":
        extra["MLFLOW_TRACKING_URI"] = uri
        params = project / "params.yaml"
    else:
        from hostile import write_params

        params = write_params(tmp_path / "params.yaml", {"mlflow.tracking_uri": uri},
                              base=project / "params.yaml")  # fmt: skip
    args = stage_command(project, "track", params)
    done = updown(*args, "--log", "logs/track.log", cwd=project, extra_env=extra, timeout=300)
    line = error_line(done, "track", "alice:***@127.0.0.1", "failed")
    assert secret not in done.stdout + done.stderr, line
    assert secret not in (project / "logs" / "track.log").read_text()
    assert fingerprint(project, "reports", "models", "data") == before
