"""A definition file: YAML parsed once into plain values that remember where they came from.

The YAML is read with ruamel's round-trip loader because its nodes keep their line
and column; the tree is then copied into plain `dict`/`list`/`str`/`int`/`float`
values (fast to walk, safe to share) and a side table from field path to source
position. Nothing here knows about Jinja or schemas.
"""

from __future__ import annotations

import contextlib
import datetime
import difflib
import io
import math
import os
import re
import stat
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
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

from linepress.errors import DefinitionError, Location, Problem, describe, format_path, type_name
from linepress.yaml_errors import unquoted_jinja, yaml_problem

#: A field path from the top of the request body: ("message", "actions", 0, "area").
FieldPath = tuple[str | int, ...]

#: The request body's own keys.
BODY_KEYS = ("from", "to", "message")
#: Keys a definition may carry besides the body, each explained in README.md.
EXTRA_KEYS = ("description", "vars", "defaults", "imports", "variants")
#: Keys allowed under `defaults:`.
DEFAULT_KEYS = ("from", "to")
#: Keys allowed under `variants:`.
VARIANT_KEYS = ("by", "fallback", "messages")

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
class Variants:
    """Messages chosen per recipient by the value of one column."""

    by: str
    messages: dict[str, Any]
    #: The variant for recipients with no value in `by`; None: that is an error.
    fallback: str | None = None


@dataclass(frozen=True, slots=True)
class Leaf:
    """Where a value sits in the definition file, and how its text is laid out."""

    location: Location
    #: The text starts on the line after `location` (a `|` or `>` block scalar).
    block: bool = False


@dataclass(slots=True)
class Definition:
    """A parsed definition: the body, its extras, and the position of every value."""

    path: Path
    #: The request-body part (`from`, `to`, `message`), in file order.
    body: dict[str, Any]
    description: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    variants: Variants | None = None
    #: Field path -> position of the value at that path (body and extras alike;
    #: extras under their own top-level key, e.g. ("vars", "shop")).
    values: dict[FieldPath, Leaf] = field(default_factory=dict)
    #: Field path -> position of the mapping key that names it.
    keys: dict[FieldPath, Location] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.path)

    def locate(self, path: FieldPath) -> Location:
        """The position of `path`, or of its nearest ancestor the file spells out.

        A rendered value can be deeper than the file (a template that yields a
        list); a missing required field has no position of its own.
        """
        for end in range(len(path), -1, -1):
            leaf = self.values.get(path[:end])
            if leaf is not None:
                return leaf.location
        return Location(self.name, 1, 1)


class _Constructor(RoundTripConstructor):  # type: ignore[misc]
    """Round-trip constructor whose timestamps stay the text the author wrote.

    A date like 2024-05-01 is a string to every field of the API; YAML's
    timestamp type would turn it into a `datetime` that no schema accepts.
    """

    def construct_yaml_int(self, node: Any) -> Any:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # more digits than Python converts (4300): reported by `_Copy`
            return _HugeInt(self.construct_scalar(node))

    # (ruamel's round-trip signature differs from its base classes', hence the ignore.)
    def construct_mapping(self, node: Any, maptyp: Any, deep: bool = False) -> Any:  # type: ignore[override]
        # ruamel keeps no position for a `<<` entry or the keys it merges in:
        # remember the entry's position and the mappings it merges, for `_Copy`.
        entries = [(k, v) for k, v in node.value if k.tag == "tag:yaml.org,2002:merge"]
        super().construct_mapping(node, maptyp, deep)
        if entries:
            key_node, value_node = entries[0]
            merged = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            maptyp._linepress_merge = _Merge(
                key_node.start_mark.line,
                key_node.start_mark.column,
                [self.constructed_objects[n] for n in merged],
            )


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_str)
_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)


class _HugeInt(str):
    """The text of a YAML integer too long for Python to convert."""


@dataclass(frozen=True, slots=True)
class _Merge:
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


def paths_of(value: Any, marker: object, path: FieldPath = ()) -> Iterator[FieldPath]:
    """The paths inside a body (dicts and lists) where `marker` stands."""
    if value is marker:
        yield path
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from paths_of(child, marker, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths_of(child, marker, (*path, index))


def contains(value: Any, marker: object) -> bool:
    """Whether `marker` stands anywhere inside a body (see `paths_of`)."""
    return next(paths_of(value, marker), None) is not None


def load_definition(path: str | Path) -> Definition:
    """Read and check a definition file's shape (not its templates or schema)."""
    path = Path(path)
    name = str(path)
    try:
        data = _read_bounded(path)
        text = data.decode("utf-8-sig")
    except FileNotFoundError:
        raise DefinitionError(Problem("no such file", Location(name), code="file")) from None
    except IsADirectoryError:
        raise DefinitionError(
            Problem("is a directory, expected a YAML file", Location(name), code="file")
        ) from None
    except UnicodeDecodeError as exc:
        line = text_line_of_offset(data, exc.start)
        raise DefinitionError(
            Problem(
                "is not UTF-8 text",
                Location(name, line, None),
                found=f"byte {exc.object[exc.start]:#04x}",
                code="encoding",
            )
        ) from None
    except OSError as exc:
        raise DefinitionError(
            Problem(f"cannot read: {exc.strerror}", Location(name), code="file")
        ) from None
    return parse_definition(text, name)


def _read_bounded(path: Path) -> bytes:
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
        raise DefinitionError(_too_big(name))
    return data


def _too_big(name: str) -> Problem:
    return Problem(
        f"is larger than {MAX_BYTES // (1024 * 1024)} MiB: a definition is a few kilobytes "
        "(put recipient data in --data)",
        Location(name),
        code="file",
    )


def text_line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def parse_definition(text: str, name: str = "<definition>") -> Definition:
    """Parse definition text; `name` is used in error positions.

    Every failure of the YAML library is a located `DefinitionError`, whatever its kind.
    """
    if len(text) > MAX_BYTES:
        raise DefinitionError(_too_big(name))
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
    documents = [d for d in documents if d is not None]
    if not documents:
        raise DefinitionError(
            Problem(
                "is empty: expected a mapping with `message:`", Location(name, 1, 1), code="shape"
            )
        )
    if len(documents) > 1:
        raise DefinitionError(
            Problem(
                "holds several YAML documents; a definition is one",
                Location(name, 1, 1),
                code="shape",
            )
        )
    root = documents[0]
    if not isinstance(root, Mapping):
        raise DefinitionError(
            Problem(
                "expected a mapping with `message:` at the top",
                Location(name, 1, 1),
                found=type_name(root),
                code="shape",
            )
        )
    copy = _Copy(name)
    tree = copy.plain(root, ())
    if copy.problems:
        raise DefinitionError(copy.problems)
    copy.values[()] = Leaf(Location(name, 1, 1))
    return _split(tree, Path(name), copy.values, copy.keys)


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
        if isinstance(node, _HugeInt):
            return self._out_of_range(path, describe(str(node)))
        if isinstance(node, int):
            if not in_json_range(node):
                return self._out_of_range(path, describe_integer(node))
            return int(node)
        if isinstance(node, float):
            return float(node)
        if isinstance(node, str):
            text = str(node)
            if not text.isascii():
                self._check_encodable(text, path)
            return text
        if isinstance(
            node, datetime.date | datetime.datetime
        ):  # pragma: no cover - constructor keeps text
            return node.isoformat()
        return str(node)

    def _mapping(self, node: CommentedMap, path: FieldPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merge: _Merge | None = getattr(node, "_linepress_merge", None)
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
    merge: _Merge | None = getattr(node, "_linepress_merge", None)
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


def _split(
    tree: dict[str, Any], path: Path, values: dict[FieldPath, Leaf], keys: dict[FieldPath, Location]
) -> Definition:
    name = str(path)
    problems: list[Problem] = []
    for key in tree:
        if key not in BODY_KEYS and key not in EXTRA_KEYS:
            problems.append(unknown_key(key, (*BODY_KEYS, *EXTRA_KEYS), keys[(key,)], key))
    if "message" not in tree and "variants" not in tree:
        problems.append(
            Problem(
                "required key `message` is missing (or `variants`, for messages chosen per recipient)",
                Location(name, 1, 1),
                code="required",
            )
        )
    if "message" in tree and "variants" in tree:
        problems.append(
            Problem(
                "a definition has `message` or `variants`, not both",
                keys[("variants",)],
                path="variants",
                code="shape",
            )
        )
    variants = _variants(tree, values, keys, problems)

    description = tree.get("description")
    if description is not None and not isinstance(description, str):
        problems.append(_expected("a string", ("description",), description, values))
    vars_ = _mapping(tree, "vars", values, problems)
    defaults = _mapping(tree, "defaults", values, problems)
    for key in defaults:
        if key not in DEFAULT_KEYS:
            problems.append(
                unknown_key(key, DEFAULT_KEYS, keys[("defaults", key)], f"defaults.{key}")
            )
    imports = _mapping(tree, "imports", values, problems)
    for alias, target in imports.items():
        if not alias.isidentifier():
            problems.append(_not_a_name("an import alias", "imports", alias, keys))
        if not isinstance(target, str):
            problems.append(_expected("a template file path", ("imports", alias), target, values))
    problems += [
        _not_a_name("a constant's name", "vars", var, keys)
        for var in vars_
        if not var.isidentifier()
    ]
    if problems:
        raise DefinitionError(problems)
    body = {key: value for key, value in tree.items() if key in BODY_KEYS}
    return Definition(
        path=path,
        body=body,
        description=description,
        vars=vars_,
        defaults=defaults,
        imports={alias: str(target) for alias, target in imports.items()},
        variants=variants,
        values=values,
        keys=keys,
    )


def _not_a_name(what: str, section: str, name: str, keys: dict[FieldPath, Location]) -> Problem:
    """Templates see these names as variables, so they must be identifiers."""
    return Problem(
        f"{what} must be usable in templates (letters, digits, _)",
        keys[(section, name)],
        path=f"{section}.{name}",
        found=repr(name),
        code="type",
    )


def _variants(
    tree: dict[str, Any],
    values: dict[FieldPath, Leaf],
    keys: dict[FieldPath, Location],
    problems: list[Problem],
) -> Variants | None:
    spec = _mapping(tree, "variants", values, problems)
    if "variants" not in tree or not isinstance(tree["variants"], dict):
        return None
    where = keys[("variants",)]
    before = len(problems)
    for key in spec:
        if key not in VARIANT_KEYS:
            problems.append(
                unknown_key(key, VARIANT_KEYS, keys[("variants", key)], f"variants.{key}")
            )
    by, fallback, messages = spec.get("by"), spec.get("fallback"), spec.get("messages")
    if not isinstance(by, str) or not by.strip():
        found = values.get(("variants", "by"))
        problems.append(
            Problem(
                "`variants.by` must name the column that picks the variant (e.g. `by: lang`)",
                found.location if found else where,
                path="variants.by",
                found=None if by is None else describe(by),
                code="required",
            )
        )
    if not isinstance(messages, dict) or not messages:
        problems.append(
            Problem(
                "`variants.messages` must map each value of the column to a message",
                values[("variants", "messages")].location
                if ("variants", "messages") in values
                else where,
                path="variants.messages",
                code="required",
            )
        )
        return None
    if fallback is not None and str(fallback) not in messages:
        problems.append(
            Problem(
                f"`variants.fallback` must be one of the variants ({', '.join(messages)})",
                values[("variants", "fallback")].location,
                path="variants.fallback",
                found=describe(fallback),
                code="unknown-variant",
            )
        )
    if len(problems) > before:
        return None
    return Variants(str(by).strip(), messages, None if fallback is None else str(fallback))


def _mapping(
    tree: dict[str, Any], key: str, values: dict[FieldPath, Leaf], problems: list[Problem]
) -> dict[str, Any]:
    value = tree.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(_expected("a mapping", (key,), value, values))
        return {}
    return value


def _expected(what: str, path: FieldPath, value: object, values: dict[FieldPath, Leaf]) -> Problem:
    return Problem(
        f"expected {what}",
        values[path].location,
        path=".".join(map(str, path)),
        found=f"{type_name(value)} {describe(value)}",
        code="type",
    )


def unknown_key(key: str, allowed: tuple[str, ...], location: Location, path: str) -> Problem:
    """An unknown-key problem that suggests the closest allowed name."""
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if not close:
        lowered = {name.lower(): name for name in allowed}
        if key.lower() in lowered:
            close = [lowered[key.lower()]]
    hint = f"; did you mean `{close[0]}`?" if close else f"; expected one of {', '.join(allowed)}"
    return Problem(f"unknown key `{key}`{hint}", location, path=path, code="unknown-key")
