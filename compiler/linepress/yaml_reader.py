"""YAML text read safely into plain values that remember where they came from.

The YAML is read with ruamel's round-trip loader because its nodes keep their line
and column, within a definition's limits (size, nesting, node count, plain tags only,
no recursive aliases), checked while parsing. Every failure of the YAML library
becomes a located `DefinitionError`. The tree is then copied into plain
`dict`/`list`/`str`/`int`/`float` values (fast to walk, safe to share) and a side
table from field path to source position. `linepress.definition` gives the values
their meaning (the body, vars, variants); nothing here knows about Jinja or schemas.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import math
import os
import re
import stat
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.reader import Reader
from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from linepress.errors import DefinitionError, Location, Problem, describe, format_path
from linepress.yaml_errors import unquoted_jinja, yaml_problem

#: A field path from the top of the request body: ("message", "actions", 0, "area").
FieldPath = tuple[str | int, ...]

#: The whole numbers a body can carry: orjson writes 64-bit integers only.
JSON_INT_MIN = -(2**63)
JSON_INT_END = 2**64
#: How many values a definition may expand to. Nested YAML aliases ("billion
#: laughs") make a few lines stand for billions of values; real ones have hundreds.
MAX_VALUES = 100_000
#: The largest definition file read, in bytes. Real ones are a few kilobytes; the
#: limit keeps a huge or endless file from costing minutes and gigabytes to parse.
MAX_BYTES = 1024 * 1024
#: How many mappings, lists and scalars a definition file may spell out (aliases
#: aside, see MAX_VALUES): the YAML library reads about 10,000 a second.
MAX_NODES = 20_000
#: How deeply mappings and lists may nest. A LINE body is under ten levels deep;
#: the YAML library recurses per level, so thousands would end in a crash.
MAX_DEPTH = 64
#: The YAML tags a definition may spell out: plain JSON-like values only.
_YAML_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp")
)


def in_json_range(number: int) -> bool:
    return JSON_INT_MIN <= number < JSON_INT_END


def describe_integer(number: int) -> str:
    """An integer for a message: itself when short, else its length (`str()` of one
    past 4300 digits raises)."""
    if number.bit_length() <= 190:  # up to 58 digits
        return repr(int(number))
    return f"an integer of about {int(number.bit_length() * math.log10(2)) + 1} digits"


@dataclass(frozen=True, slots=True)
class Leaf:
    """Where a value sits in the definition file, and how its text is laid out."""

    location: Location
    #: The text starts on the line after `location` (a `|` or `>` block scalar).
    block: bool = False


class _Constructor(RoundTripConstructor):  # type: ignore[misc]
    """Round-trip constructor whose timestamps stay the text the author wrote.

    A date like 2024-05-01 is a string to every field of the API; YAML's
    timestamp type would turn it into a `datetime` that no schema accepts.
    """

    def construct_yaml_int(self, node: Any) -> Any:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # more digits than Python converts (4300): reported by `_Copy`
            return HugeInt(self.construct_scalar(node))

    # (ruamel's round-trip signature differs from its base classes', hence the ignore.)
    def construct_mapping(self, node: Any, maptyp: Any, deep: bool = False) -> Any:  # type: ignore[override]
        # ruamel keeps no position for a `<<` entry or the keys it merges in:
        # remember the entry's position and the mappings it merges, for `_Copy`.
        entries = [(k, v) for k, v in node.value if k.tag == "tag:yaml.org,2002:merge"]
        super().construct_mapping(node, maptyp, deep)
        if entries:
            key_node, value_node = entries[0]
            merged = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            maptyp._linepress_merge = Merge(
                key_node.start_mark.line,
                key_node.start_mark.column,
                [self.constructed_objects[n] for n in merged],
            )


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_str)
_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)


class HugeInt(str):
    """The text of a YAML integer too long for Python to convert."""


@dataclass(frozen=True, slots=True)
class Merge:
    """A mapping's `<<` entry: its position (from 0) and the mappings it merges, first wins."""

    line: int
    column: int
    mappings: list[Any]


class _Refused(MarkedYAMLError):  # type: ignore[misc]
    """YAML that is valid but that a definition may not hold (a tag, a recursive alias)."""


class _Composer(Composer):  # type: ignore[misc]
    """Builds the node tree, refusing what a definition never needs while it parses.

    Checked here, before any value is made: nesting depth and node count (so a
    deep or huge file stops early), tags other than plain values (`!!binary`,
    `!!python/...`, `!custom`), an alias inside the node it names (a recursive
    structure, e.g. `m: &m {<<: *m}`), and keys that are lists or mappings.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._nodes = 0
        self._open: list[Any] = []  # anchors of the nodes being composed

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        self.loader._linepress_mark = event.start_mark
        if isinstance(event, AliasEvent):
            if event.anchor in self._open:
                raise _Refused(
                    None,
                    None,
                    f"the alias `*{event.anchor}` is inside the node it names: "
                    "a definition cannot refer to itself",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(
                None,
                None,
                f"the definition holds more than {MAX_NODES:,} values",
                event.start_mark,
            )
        if self.depth >= MAX_DEPTH:
            raise _Refused(
                None,
                None,
                f"nested too deeply: more than {MAX_DEPTH} levels of mappings and lists",
                event.start_mark,
            )
        self._open.append(event.anchor)
        node = super().compose_node(parent, index)
        self._open.pop()
        tag = str(node.tag)
        if tag not in _YAML_TAGS:
            raise _Refused(None, None, _tag_message(tag), node.start_mark)
        if isinstance(node, MappingNode):
            for key, _ in node.value:
                if not isinstance(key, ScalarNode):
                    kind = "a list" if isinstance(key, SequenceNode) else "a mapping"
                    raise _Refused(
                        None,
                        None,
                        f"a key must be a name, not {kind}",
                        key.start_mark,
                    )
        return node


def _tag_message(tag: str) -> str:
    short = tag.replace("tag:yaml.org,2002:", "!!")
    if short == "!!binary":
        return (
            "`!!binary` is not supported: a definition holds text; "
            "write the value as a plain string"
        )
    return (
        f"the YAML tag `{short}` is not supported: a definition holds plain text, "
        "numbers, true/false, lists and mappings"
    )


class _Reader(Reader):  # type: ignore[misc]
    """Remembers where reading stopped, so an unexpected YAML failure can still be located."""

    def reset_reader(self) -> None:
        if self.loader is not None and getattr(self, "line", None) is not None:
            self.loader._linepress_stop = (self.line, self.column)
        super().reset_reader()


def _yaml() -> YAML:
    """The one YAML loader: round-trip (positions), YAML 1.2, duplicate keys refused,
    and the limits of `_Composer`."""
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    yaml.Composer = _Composer
    yaml.Reader = _Reader
    yaml.allow_duplicate_keys = False
    return yaml


def read_bounded(path: Path) -> bytes:
    """The file's bytes; a FIFO, a device or more than `MAX_BYTES` is a `DefinitionError`.

    The type is checked before opening: opening a FIFO waits for a writer forever.
    """
    name = str(path)
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        )
        raise DefinitionError(
            Problem(
                f"is {kind}, not a regular file: expected a YAML file",
                Location(name),
                code="file",
            )
        )
    with path.open("rb") as file:
        data = file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise DefinitionError(too_big(name))
    return data


def too_big(name: str) -> Problem:
    return Problem(
        f"is larger than {MAX_BYTES // (1024 * 1024)} MiB: a definition is a few kilobytes "
        "(put recipient data in --data)",
        Location(name),
        code="file",
    )


def text_line_of_offset(data: bytes, offset: int) -> int:
    """The line (from 1) of byte `offset` in `data`."""
    return data.count(b"\n", 0, offset) + 1


_YAML_DIRECTIVE = re.compile(r"^%YAML\b", re.MULTILINE)


def _unexpected_yaml_problem(yaml: YAML, exc: Exception, name: str, text: str) -> Problem:
    """A YAML failure without a position of its own (an assertion, a recursion deep in
    ruamel): placed where reading stopped, or at the last node begun."""
    stop = getattr(yaml, "_linepress_stop", None)
    mark = getattr(yaml, "_linepress_mark", None)
    directive = _YAML_DIRECTIVE.search(text)
    if directive is not None and "version" in str(exc):  # `%YAML 1.3`: ruamel asserts
        location = Location(name, text.count("\n", 0, directive.start()) + 1, 1)
    elif stop is not None:
        location = Location(name, stop[0] + 1, stop[1] + 1)
    elif mark is not None:
        location = Location(name, mark.line + 1, mark.column + 1)
    else:
        location = Location(name)
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if directive is not None and "version" in str(exc):
        return Problem(
            f"invalid YAML: unsupported `%YAML` version ({detail[:200]}); "
            "write `%YAML 1.2` or leave the line out",
            location,
            code="yaml-syntax",
        )
    return Problem(
        f"invalid YAML: the YAML reader stopped here ({detail[:200]})",
        location,
        code="yaml-syntax",
    )


def load_documents(text: str, name: str) -> list[Any]:
    """The YAML documents in `text` (round-trip nodes), empty ones left out.

    Raises `DefinitionError`, located in `name`, for anything the YAML library
    refuses or fails on and for what a definition may not hold (see `_Composer`).
    """
    if len(text) > MAX_BYTES:
        raise DefinitionError(too_big(name))
    yaml = _yaml()
    try:
        # ruamel warns about a reused anchor and prints odd comment layouts to stdout,
        # where `compile` writes bodies: neither is the author's concern.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            documents = list(yaml.load_all(text))
    except _Refused as exc:
        mark = exc.problem_mark
        if str(exc.problem).endswith("not a mapping"):
            jinja = unquoted_jinja(name, text, mark.line, mark.column)
            if jinja is not None:
                raise DefinitionError(jinja) from None
        raise DefinitionError(
            Problem(
                str(exc.problem),
                Location(name, mark.line + 1, mark.column + 1),
                code="yaml-unsupported",
            )
        ) from None
    except MarkedYAMLError as exc:
        raise DefinitionError(yaml_problem(exc, name, text)) from None
    except (YAMLError, Exception) as exc:  # the YAML library failed in its own way
        raise DefinitionError(_unexpected_yaml_problem(yaml, exc, name, text)) from None
    return [d for d in documents if d is not None]


def plain_tree(
    root: Mapping[Any, Any], name: str
) -> tuple[dict[str, Any], dict[FieldPath, Leaf], dict[FieldPath, Location]]:
    """`root` as plain values, with the position of every value and of every key.

    Raises `DefinitionError` with every number out of JSON's range and every
    unpaired surrogate found, or at once when aliases expand past `MAX_VALUES`.
    """
    copy = _Copy(name)
    tree = copy.plain(root, ())
    if copy.problems:
        raise DefinitionError(copy.problems)
    copy.values[()] = Leaf(Location(name, 1, 1))
    return tree, copy.values, copy.keys


class _Copy:
    """Copies round-trip nodes into plain Python values, recording positions."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.values: dict[FieldPath, Leaf] = {}
        self.keys: dict[FieldPath, Location] = {}
        self.problems: list[Problem] = []
        self.count = 0

    def plain(self, node: Any, path: FieldPath) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            # An alias is one object however often it is used, so ruamel loads
            # such a file at once; copying it would take forever and all memory.
            raise DefinitionError(
                Problem(
                    f"the definition expands to more than {MAX_VALUES:,} values "
                    "(nested YAML aliases?)",
                    Location(self.name, 1, 1),
                    code="shape",
                )
            )
        if isinstance(node, CommentedMap):
            return self._mapping(node, path)
        if isinstance(node, CommentedSeq):
            items = []
            for index, child in enumerate(node):
                item_path = (*path, index)
                line, col = node.lc.item(index)
                self.values[item_path] = self._leaf(line, col, child)
                items.append(self.plain(child, item_path))
            return items
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, HugeInt):
            return self._out_of_range(path, describe(str(node)))
        if isinstance(node, int):
            if not in_json_range(node):
                return self._out_of_range(path, describe_integer(node))
            return int(node)
        if isinstance(node, float):
            if not math.isfinite(node):
                # JSON has no NaN or infinity: a body would carry `null` or be refused.
                return self._refuse(
                    path, "a number must be finite: JSON has no NaN or infinity", _yaml_float(node)
                )
            return float(node)
        if isinstance(node, str):
            text = str(node)
            if not text.isascii():
                self._check_encodable(text, path)
            if "\x00" in text:
                # A NUL (YAML's "\0") would reach a customer's phone as an invisible character.
                self._refuse(
                    path,
                    "the text holds a NUL character (YAML `\\0` or `\\x00`): remove it",
                    f"NUL at character {text.index(chr(0)) + 1}",
                )
            return text
        if isinstance(
            node, datetime.date | datetime.datetime
        ):  # pragma: no cover - constructor keeps text
            return node.isoformat()
        return str(node)

    def _mapping(self, node: CommentedMap, path: FieldPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merge: Merge | None = getattr(node, "_linepress_merge", None)
        for key, child in node.items():
            key_path = (*path, _key_text(key))
            if _written_in(node, key):
                line, col = node.lc.key(key)
                vline, vcol = node.lc.value(key)
            else:  # merged in by `<<`: the key at that entry, the value where it is written
                line, col = (merge.line, merge.column) if merge else (node.lc.line, node.lc.col)
                vline, vcol = _merged_position(node, key) or (line, col)
            self.keys[key_path] = Location(self.name, line + 1, col + 1)
            self.values[key_path] = self._leaf(vline, vcol, child)
            result[_key_text(key)] = self.plain(child, key_path)
        return result

    def _leaf(self, line: int, col: int, child: Any) -> Leaf:
        return Leaf(
            Location(self.name, line + 1, col + 1),
            block=isinstance(child, LiteralScalarString | FoldedScalarString),
        )

    def _check_encodable(self, text: str, path: FieldPath) -> None:
        # YAML's "\\ud83d\\udc4d" gives two lone surrogates, which no UTF-8 body can carry.
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            self.problems.append(
                Problem(
                    "the text holds an unpaired UTF-16 surrogate: YAML does not join "
                    "\\uXXXX pairs; write the character itself or \\U0001F44D-style escapes",
                    self.values[path].location
                    if path in self.values
                    else Location(self.name, 1, 1),
                    path=format_path(path),
                    found=f"{text[exc.start]!a} at character {exc.start + 1}",
                    code="type",
                )
            )

    def _refuse(self, path: FieldPath, message: str, found: str) -> None:
        self.problems.append(
            Problem(
                message,
                self.values[path].location if path in self.values else Location(self.name, 1, 1),
                path=format_path(path),
                found=found,
                code="type",
            )
        )

    def _out_of_range(self, path: FieldPath, found: str) -> None:
        self.problems.append(
            Problem(
                f"number out of range: a whole number must be from {JSON_INT_MIN} "
                f"to {JSON_INT_END - 1}",
                self.values[path].location if path in self.values else Location(self.name, 1, 1),
                path=format_path(path),
                found=found,
                code="type",
            )
        )


def _written_in(node: CommentedMap, key: Any) -> bool:
    # `lc.data` is None for a mapping whose keys all come from `<<`.
    return node.lc.data is not None and key in node.lc.data


def _merged_position(node: CommentedMap, key: Any) -> tuple[int, int] | None:
    """Where the value of a key merged into `node` is written (0-based), if known."""
    merge: Merge | None = getattr(node, "_linepress_merge", None)
    for mapping in merge.mappings if merge else ():
        if isinstance(mapping, CommentedMap) and key in mapping:
            if _written_in(mapping, key):
                line, col = mapping.lc.value(key)
                return line, col
            return _merged_position(mapping, key)  # merged into it in turn
    return None


def _key_text(key: Any) -> str:
    # Keys are field names; YAML allows `1:` or `true:`, which the API never wants
    # but which should reach the unknown-key check as text, not crash.
    return key if isinstance(key, str) else str(key)


def _yaml_float(number: float) -> str:
    """NaN or an infinity as YAML spells it (`.nan`, `-.inf`)."""
    if math.isnan(number):
        return ".nan"
    return "-.inf" if number < 0 else ".inf"
