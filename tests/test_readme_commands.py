"""Every shell command README.md shows works, pasted into a plain shell (PATH=/usr/bin:/bin, no
venv activated) in a fresh clone after `make run`; so README and reality cannot drift apart.

The clone is `git clone` of the built sample project (its HEAD is this repository's tracked
files) plus the outputs `make run` built there, byte-identical to what a run in the clone makes
(`make run` then says there is nothing to do). Each ```sh block runs as one bash script, in
README order, each command's output checked where the README promises something. A few commands
are handled deliberately rather than pasted, each with its reason in SPECIAL."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import REPO, run
from test_mlflow_server import free_port, server_process

pytestmark = [pytest.mark.integration]

BLOCK = re.compile(r"^```(sh|console)\n(.*?)^```", re.S | re.M)
# headline.json too: the built project's is a fresh result, which must equal the committed one
OUTPUTS = ("data", "models", "reports", "logs", "mlflow.db", "headline.json")
# command pattern: (how, why). "skip" is not run here; "server" is started, checked, stopped.
SPECIAL = {
    r"^make test\b": (
        "skip",
        "the whole suite (this test included): 6 to 20 minutes on 2 cores; CI runs it",
    ),
    r"^make bench\b": (
        "skip",
        "minutes of benchmarks on fresh builds (and ../shared); tests/test_benchmarks_smoke.py "
        "runs a tiny bench through the same script",
    ),
    r"mlflow models serve": (
        "skip block",
        "the README elides the run id and the request body; tests/test_serve.py serves the "
        "logged model with this command and posts raw bars to it",
    ),
    r"^make run-hourly\b": (
        "skip",
        "a second pipeline on a synthetic hourly panel (minutes); tests/test_hourly.py runs this "
        "very `make run-hourly` in a project copy and checks its outputs",
    ),
    r"^make sweep\b": (
        "skip",
        "seven pipeline runs (minutes); tests/test_sweep.py runs `updown sweep`, which this "
        "target calls with its grid, end to end twice",
    ),
    r"updown replay\b": (
        "skip",
        "trains a first model and steps a clock (minutes); tests/test_replay.py runs `updown "
        "replay` on the sample, kills one and resumes it",
    ),
    r"^make ui\b": ("server", "serves until stopped: started, checked for HTTP 200, stopped"),
}
# What a command's output must show, where the README says what it does.
EXPECT = {
    r"^make run\b": r"Nothing to be done",
    r"dvc metrics diff$": r"headline\.json\s+model\.roc_auc",
    r"^make exp\b": r"model\.roc_auc.*evaluate\.bootstrap\.block_bars",
    r"dvc plots diff$": r"dvc_plots/index\.html",
    r"dvc repro\b": r"up to date|didn't change",
    r"updown predict --ticker \^GSPC --as-of 2018-06-29$": r"\^GSPC as of 2018-06-29",
}
WIDTH = 120  # the terminal width `make exp` must fit


def readme_commands() -> list[tuple[int, list[str]]]:
    """Each ```sh block's commands (continuation lines joined), and the `$ ` lines of
    ```console blocks, with the block's number."""
    blocks = []
    for n, match in enumerate(BLOCK.finditer((REPO / "README.md").read_text())):
        kind, body = match.groups()
        lines, cmds = body.replace("\\\n", " ").splitlines(), []
        if kind == "console":
            cmds = [line[2:] for line in lines if line.startswith("$ ")]
        else:
            cmds = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        # a trailing `# comment` is the README's note to the reader (no command here quotes #)
        blocks.append((n, [re.sub(r"\s+#\s.*$", "", c) for c in cmds]))
    return blocks


def special(cmd: str) -> tuple[str, str] | None:
    return next((v for k, v in SPECIAL.items() if re.search(k, cmd)), None)


def plain_shell(home: Path, port: int) -> dict[str, str]:
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
            "COLUMNS": str(WIDTH), "PORT": str(port)}  # fmt: skip


def clone_after_run(built: Path, dest: Path) -> Path:
    run(["git", "clone", "-q", str(built), str(dest)], dest.parent)
    for name in OUTPUTS:
        src = built / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.exists():
            shutil.copy(src, dest / name)
    shutil.copytree(built / ".snakemake", dest / ".snakemake",
                    ignore=shutil.ignore_patterns("locks", "incomplete", "log"))  # fmt: skip
    # outputs newer than the freshly cloned sources, as after a run in the clone
    stamp = time.time()
    for name in (*OUTPUTS, ".snakemake"):
        for path in [dest / name, *(dest / name).rglob("*")] if (dest / name).exists() else []:
            os.utime(path, (stamp, stamp))
    # The suite's own venv; `make` is told never to rebuild it from the clone (-o).
    (dest / ".venv").symlink_to(REPO / ".venv")
    return dest


def as_pasted(cmd: str) -> str:
    return re.sub(r"^make ", "make -o .venv/.installed ", cmd)


def run_block(cmds: list[str], cwd: Path, env: dict[str, str]) -> dict[str, str]:
    """The block as one bash script, stopping at the first failure; each command's output."""
    script = "set -euo pipefail\n" + "".join(
        f"printf '\\n@@@ {i}\\n'\n{as_pasted(c)}\n" for i, c in enumerate(cmds)
    )
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)  # fmt: skip
    parts = re.split(r"^@@@ (\d+)$", done.stdout, flags=re.M)
    outputs = {cmds[int(i)]: text for i, text in zip(parts[1::2], parts[2::2], strict=True)}
    assert done.returncode == 0, f"`{cmds[len(outputs) - 1]}` failed:\n{done.stdout[-4000:]}"
    return outputs


def check_make_ui(clone: Path, env: dict[str, str], tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{env['PORT']}/"
    cmd = ["bash", "-c", as_pasted("make ui")]
    with server_process(cmd, url, clone, env, tmp_path / "ui.log"):
        pass


def test_the_readme_shows_the_commands_this_test_runs() -> None:
    cmds = [c for _, block in readme_commands() for c in block]
    for expected in EXPECT:  # the parser finds what it must check
        assert any(re.search(expected, c) for c in cmds), expected
    for pattern in SPECIAL:  # no stale special case
        assert any(re.search(pattern, c) for c in cmds), pattern


def test_every_readme_command_works_in_a_plain_shell_after_make_run(
    built_sample_project: Path, tmp_path: Path
) -> None:
    clone = clone_after_run(built_sample_project, tmp_path / "clone")
    env = plain_shell(tmp_path / "home", free_port())
    (tmp_path / "home").mkdir()
    # The committed headline.json is this code's result: a fresh run leaves it as it is,
    # and `dvc metrics diff` has nothing to report before an experiment.
    status = run(["git", "status", "--porcelain", "headline.json"], clone).stdout
    assert status == "", "headline.json is stale: run `make run` and commit headline.json"
    assert run([".venv/bin/dvc", "metrics", "diff"], clone, env=env).stdout.strip() == ""

    ran, skipped = [], []
    for _, cmds in readme_commands():
        whole = next((s for c in cmds if (s := special(c)) and s[0] == "skip block"), None)
        if whole:  # a block whose lines only make sense together (a server and its client)
            skipped.append((cmds[0], whole[1]))
            continue
        todo = [c for c in cmds if special(c) is None]
        for c in cmds:
            how = special(c)
            if how and how[0] == "server":
                check_make_ui(clone, env, tmp_path)
                ran.append(c)
            elif how:
                skipped.append((c, how[1]))
        if not todo:
            continue
        outputs = run_block(todo, clone, env)
        for c, out in outputs.items():
            ran.append(c)
            for pattern, promise in EXPECT.items():
                if re.search(pattern, c):
                    assert re.search(promise, out, re.S), f"`{c}`:\n{out[-3000:]}"
            if c.startswith("make exp"):
                rules = [line for line in out.splitlines() if "──" in line]  # the table's width
                assert rules and max(map(len, rules)) <= WIDTH, out
                assert "…" not in out, out  # no column squeezed to an ellipsis
                header = next(line for line in out.splitlines() if " Experiment " in line).split()
                assert header == ["Experiment", "model.roc_auc", "model.roc_auc_hi",
                                  "model.roc_auc_lo", "evaluate.bootstrap.block_bars"], out  # fmt: skip
    assert len(ran) >= 10 and len(skipped) <= 10, (ran, skipped)

    # the experiment changed the headline, and metrics diff compared it with the committed one
    diff = run([".venv/bin/dvc", "metrics", "diff", "--json"], clone, env=env).stdout
    assert '"headline.json"' in diff and '"old"' in diff, diff
    page = (clone / "dvc_plots" / "index.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in page and 'data-package="vega@' in page
