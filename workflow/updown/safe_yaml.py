"""YAML read safely for params.yaml: plain data only, and refused with the line named when a key
is written twice (YAML would silently keep the last value) or aliases expand past a small bound
(an alias bomb), before anything else runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from updown.errors import UpdownError

# A params file is small and flat: nothing legitimate in it comes near this many nodes brought in
# by aliases (the whole shipped file has about 250), while an alias bomb ("billion laughs": each
# level aliasing the one before nine times) passes it within a few lines.
MAX_ALIAS_NODES = 10_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(Exception):
    """A YAML document that parses but that params.yaml must not be: `line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


class _CheckedComposer(yaml.composer.Composer):
    """PyYAML's composer, which also refuses a key written twice in one mapping (YAML keeps the
    last value without a word) and aliases that expand to more than MAX_ALIAS_NODES nodes.

    Each composed node's expanded size (itself plus everything under it, aliases expanded) is
    known once it is composed, so an alias costs one addition: the check needs no expansion and
    stops an alias bomb at the alias that crosses the bound."""

    # Provided by the parser the loader combines this composer with (libyaml's or PyYAML's).
    check_event: Callable[..., bool]
    peek_event: Callable[[], Any]

    def __init__(self) -> None:
        yaml.composer.Composer.__init__(self)
        self._sizes: dict[int, int] = {}  # id(node) -> expanded size, once composed
        self._expanded = 0  # nodes brought in by aliases so far
        self._path: list[str | int | None] = []  # None: the root
        self._keys = yaml.constructor.SafeConstructor()

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                self._count_alias(event, target)
            return super().compose_node(parent, index)
        if isinstance(index, yaml.ScalarNode):
            self._path.append(index.value)
        elif isinstance(index, int):
            self._path.append(index)
        else:  # the root, or a mapping key being composed
            self._path.append("(key)" if parent is not None else None)
        node = super().compose_node(parent, index)
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(item)] for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
            self._check_duplicates(node)
        self._sizes[id(node)] = size
        self._path.pop()
        return node

    def _count_alias(self, event: Any, target: Any) -> None:
        line = event.start_mark.line + 1
        size = self._sizes.get(id(target))
        if size is None:  # its anchor's node is still being composed: it contains itself
            raise _Refused(
                line,
                f"alias *{event.anchor} refers to a node that contains it (a recursive "
                "structure, which no setting needs): write the values out",
            )
        self._expanded += size
        if self._expanded > MAX_ALIAS_NODES:
            raise _Refused(
                line,
                f"alias *{event.anchor} brings the nodes expanded from aliases to more than "
                f"{MAX_ALIAS_NODES} (an alias bomb?): write the values out instead",
            )

    def _check_duplicates(self, node: Any) -> None:
        seen: dict[Any, Any] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
                continue  # a merge (<<) may be overridden, by design
            try:  # the Python value: `1` and `1.0`, or `yes` and `true`, are one dict key
                name = self._keys.construct_object(key)
                hash(name)
            except (yaml.YAMLError, TypeError):
                name = (key.tag, key.value)
            if name in seen:
                first, where = seen[name].start_mark.line + 1, key.start_mark.line + 1
                dotted = key_path([*(p for p in self._path if p is not None), key.value])
                raise _Refused(
                    where,
                    f"duplicate key {dotted} (also on line {first}); YAML would silently keep "
                    "the last value: remove one",
                )
            seen[name] = key


# libyaml's parser when PyYAML has it: every stage process parses params.yaml and the schema, and
# the pure-Python parser costs tens of milliseconds each time (x one acquire job per ticker). The
# composer (nodes from events) is Python in both, to check keys and aliases: about a millisecond
# more on params.yaml (2 ms in all, against 11 ms for the pure-Python loader).
if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _Loader(
        _CheckedComposer, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
    ):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _CheckedComposer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

else:  # pragma: no cover - PyYAML built without libyaml

    class _Loader(_CheckedComposer, yaml.SafeLoader):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            yaml.SafeLoader.__init__(self, stream)
            _CheckedComposer.__init__(self)


_YAML_LOADER = _Loader


def read_yaml(path: Path) -> Any:
    """Parse a YAML file safely (plain data only); a syntax error, a duplicate key or an
    oversized or recursive alias names the file and line."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UpdownError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return yaml.load(text, Loader=_YAML_LOADER)  # type: ignore[arg-type]
    except _Refused as exc:
        raise UpdownError(f"{path}: line {exc.line}: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UpdownError(f"{path}:{where}: YAML syntax error: {problem}") from exc


def key_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"
