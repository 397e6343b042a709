"""The code a stage runs, as files Snakemake and DVC can declare: the entry point, and every
module of the package its command imports, directly or through others.

Derived from the source (Python's own parser reads each module's imports), never kept by hand:
a new import adds a dependency the next time the Snakefile is read (and dvc.yaml rendered).
Inside the package, imports are made at module level (a test holds every module to it), so this
static closure is exactly what `import updown.commands.<stage>` loads; imports under
`if TYPE_CHECKING:` run only for the type checker and are left out.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = "updown"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
PROJECT_DIR = PACKAGE_DIR.parents[1]
ENTRY = "updown.cli"
# Modules a module hands to another program by path instead of importing: MLflow runs
# serve/serving_model.py ("models from code") when it loads the model serving.py logs.
BY_PATH = {"updown.serve.serving": frozenset({"updown.serve.serving_model"})}


def module_path(module: str) -> Path | None:
    """The source file of a module of the package (a package: its __init__.py), or None."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


@cache
def direct_imports(module: str) -> frozenset[str]:
    """The package's modules that `module` imports (a `from a import b` names a.b if b is a
    module), with the packages that hold them: importing a.b.c runs a and a.b first."""
    path = module_path(module)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_text(), filename=str(path))
    named: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
            continue
        target = _absolute(node, module, path.name == "__init__.py")
        named.add(target)
        named.update(f"{target}.{alias.name}" for alias in node.names)
    found = {name for name in named if module_path(name) is not None}
    return frozenset(_with_parents(found) | BY_PATH.get(module, frozenset()))


def _with_parents(modules: set[str]) -> set[str]:
    out = set(modules)
    for name in modules:
        parts = name.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return out


def closure(*entries: str) -> list[str]:
    """Every module of the package that importing `entries` loads, sorted."""
    seen: set[str] = set()
    todo = list(_with_parents(set(entries)))
    while todo:
        name = todo.pop()
        if name in seen or module_path(name) is None:
            continue
        seen.add(name)
        todo.extend(direct_imports(name) - seen)
    return sorted(seen)


def stage_modules(command: str) -> list[str]:
    """The modules `updown <command>` runs: the CLI, then the command's own module's closure."""
    return closure(ENTRY, f"updown.commands.{command.replace('-', '_')}")


def stage_code(command: str) -> list[str]:
    """The files of stage_modules(command), relative to the project folder (for `input:`)."""
    paths = (module_path(m) for m in stage_modules(command))
    return sorted(p.relative_to(PROJECT_DIR).as_posix() for p in paths if p is not None)
