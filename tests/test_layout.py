"""The README's map of the package lists every module, in the folder it lives in, and no other."""

from __future__ import annotations

import re

from conftest import REPO

PACKAGE = REPO / "workflow" / "updown"


def readme_modules() -> set[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("## Where things live", 1)[1].split("```", 2)[1]
    listed, folder = set(), None
    for line in block.splitlines():
        head = re.match(r"^(\s*)(\S+/)\s", line + " ")
        if head and head.group(2) == "workflow/updown/":
            folder = ""
        elif head and not head.group(1) and folder is not None:
            folder = None  # back at the top level: past the package
        elif head and folder is not None:
            folder = head.group(2)
        if folder is None:
            continue
        listed |= {folder + name for name in re.findall(r"\b(\w+\.py)\b", line)}
    return listed


def test_the_readme_lists_every_module_where_it_lives() -> None:
    modules = {
        p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"
    }
    assert readme_modules() == modules


def test_every_third_party_package_the_code_imports_is_declared_in_pyproject() -> None:
    import ast
    import sys
    import tomllib
    from importlib.metadata import packages_distributions

    imported: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"updown"}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~\[ ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    providers = packages_distributions()
    undeclared = {
        name
        for name in third_party
        if not {d.lower() for d in providers.get(name, [name])} & declared
    }
    assert third_party and undeclared == set()
