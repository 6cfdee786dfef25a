"""YAML mistakes in plain words, each with the fix: what a marketer editing a file needs.

ruamel's messages name the parser's state ("mapping values are not allowed here",
"found character '\\t' that cannot start any token"). `yaml_problem()` turns the
mistakes people actually make into what to do about them, located at the place
to fix, and marks the problem `show_source` so the text report prints the line
with a caret under the column:

- a tab used to indent: "a tab cannot indent YAML; use spaces";
- a `: ` inside unquoted text: "put the text in quotes", with the quoted line;
- a key indented deeper than the key above it;
- a quote that is never closed: located at the opening quote;
- a duplicate key.

Anything else keeps ruamel's words (still located). `number_hint()` words a
number written where text is wanted (`to: 0812345678`: "quote it to keep the
leading 0").
"""

from __future__ import annotations

import re
from typing import Any

from linepress.errors import Location, Problem

_KEY_VALUE = re.compile(r"^(?P<indent>\s*(?:-\s+)?)(?P<key>[^\s#'\"][^:#]*?):\s+(?P<value>.*)$")
#: A plain value as written: up to a space, a comment or a flow-collection mark.
_PLAIN_TOKEN = re.compile(r"[^\s,\[\]{}#]+")
#: The numbers YAML (1.1 and 1.2) reads: decimal, 0x/0o/0b, sexagesimal, .inf, .nan.
_YAML_NUMBER = re.compile(
    r"[-+]?(?:0x[0-9a-fA-F_]+|0o?[0-7_]+|0b[01_]+|\.inf|\.Inf|\.INF|\.nan|\.NaN|\.NAN"
    r"|(?=\.?\d)[\d_]*(?::[0-5]?\d)*(?:\.[\d_]*)?(?:[eE][-+]?\d+)?)"
)


def yaml_problem(exc: Any, name: str, text: str) -> Problem:
    """A located, plainly worded problem for ruamel's `MarkedYAMLError` `exc` on `text`."""
    mark = exc.problem_mark or exc.context_mark
    problem = (exc.problem or "invalid YAML").strip()
    context = (exc.context or "").strip()
    lines = text.splitlines()
    line = mark.line if mark else None
    column = mark.column if mark else None
    source = lines[line] if line is not None and 0 <= line < len(lines) else ""
    message: str | None = None

    if "'\\t'" in problem:
        message = "a tab cannot indent YAML; use spaces"
        if source and column is not None and "\t" in source:
            column = source.index("\t")
    elif problem.startswith("mapping values are not allowed"):
        message, column = _colon_message(lines, line, column)
    elif "end of stream" in problem and "quoted scalar" in context and exc.context_mark:
        start = exc.context_mark
        quote = lines[start.line][start.column] if start.line < len(lines) else '"'
        message = (
            f"this {quote} is never closed: everything after it became one text; "
            f"end the text with {quote} on the same line"
        )
        line, column = start.line, start.column
    elif problem.startswith("found duplicate key"):
        # ruamel: 'found duplicate key "text" with value "Bye" (original value: "Hello")'
        key = problem.split('"')[1] if '"' in problem else ""
        message = f"duplicate key `{key}`; a key may appear once in a mapping"
    if message is None and line is not None:
        message, column = _slip_message(lines, line, column, problem)
    if message is None and line is not None:
        # A quote left open swallows the lines below it up to the next quote, and
        # the parser trips there: point at the quote that was never closed.
        opened = _unclosed_quote(lines, line)
        if opened is not None:
            line, column, quote = opened
            message = (
                f"this {quote} is never closed: the lines below became part of its text; "
                f"end the text with {quote} on the same line"
            )
    if message is None:
        message = f"{problem} ({context})" if context else problem
    location = Location(name, line + 1, (column or 0) + 1) if line is not None else Location(name)
    return Problem(f"invalid YAML: {message}", location, code="yaml-syntax", show_source=True)


def unquoted_jinja(name: str, text: str, line: int, column: int) -> Problem | None:
    """`text: {{ name }}` made a mapping key at 0-based `line`/`column`: the fix, or None.

    YAML reads a bare `{` as a mapping, so unquoted Jinja becomes a key that is a
    mapping; say so in the template's terms, with the quoted line to paste.
    """
    lines = text.splitlines()
    source = lines[line] if 0 <= line < len(lines) else ""
    if "{{" not in source:
        return None
    message, start = _jinja_message(source, column)
    return Problem(
        f"invalid YAML: {message}",
        Location(name, line + 1, (start or 0) + 1),
        code="yaml-syntax",
        show_source=True,
    )


def _colon_message(
    lines: list[str], line: int | None, column: int | None
) -> tuple[str, int | None]:
    """`mapping values are not allowed here`: a `: ` in unquoted text, or a key too deep.

    Returns the message and the column to point at (0-based).
    """
    source = lines[line] if line is not None and line < len(lines) else ""
    match = _KEY_VALUE.match(source)
    if match and column is not None and column > match.end("key"):
        # The colon is inside the value: `text: Sale: 20% off`.
        value = match["value"].rstrip()
        quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return (
            "a `: ` inside unquoted text reads as a new key; put the text in quotes: "
            f"{match['key']}: {quoted}"
        ), column
    above = _line_above(lines, line)
    if above is not None:
        here = len(source) - len(source.lstrip())
        there = len(lines[above]) - len(lines[above].lstrip())
        if here > there:
            return (
                f"this key is indented {here} spaces, deeper than the line above "
                f"({there}); keys of one mapping line up: indent it {there}"
            ), here
    return "a `: ` here reads as a new key; put text holding `: ` in quotes", column


_OPENING_QUOTE = re.compile(r"^\s*(?:-\s+)?[^\s#'\"][^:#]*?:\s+(?P<quote>[\"'])")


def _unclosed_quote(lines: list[str], line: int) -> tuple[int, int, str] | None:
    """The first `key: "text` at or above `line` whose quote the line does not close.

    Returns its 0-based line and column and the quote character, or None.
    """
    for index in range(0, min(line + 1, len(lines))):
        match = _OPENING_QUOTE.match(lines[index])
        if match is None:
            continue
        quote = match["quote"]
        rest = lines[index][match.end() :]
        if quote == '"':
            closed = re.search(r'(?<!\\)"', rest.replace("\\\\", "")) is not None
        else:
            closed = "'" in rest.replace("''", "")
        if not closed:
            return index, match.start("quote"), quote
    return None


def _jinja_message(source: str, column: int | None) -> tuple[str, int | None]:
    """`text: {{ name }}`: YAML read `{` as a mapping; the value must be quoted.

    Returns the message (with the quoted line to paste) and the column of the `{{`.
    """
    start = source.find("{{", max((column or 0) - 1, 0))
    if start < 0:
        start = source.find("{{")
    before = source[:start]
    key = re.search(r"([^\s{,:]+):\s*$", before)
    value = source[start:].rstrip()
    if before.count("{") <= before.count("}"):  # a block mapping: the value runs to the line's end
        value = re.sub(r"\s+#.*$", "", value)
    else:  # in `{...}`: up to the `,` or `}` after the last `}}`
        end = source.find("}}", start)
        after = re.search(r"[,}]", source[end + 2 :]) if end >= 0 else None
        value = source[start : end + 2 + after.start()].rstrip() if after else value
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    fix = f"{key[1]}: {quoted}" if key else quoted
    return (
        "text that starts with {{ must be in quotes (YAML reads a bare { as the start "
        f"of a mapping): {fix}"
    ), start


#: Characters that mean something to YAML at the start of a value.
_INDICATORS = "[{@`-!&*|>%"


def _slip_message(
    lines: list[str], line: int, column: int | None, problem: str
) -> tuple[str | None, int | None]:
    """Common slips on the failing line: a value starting with a YAML mark, a quote
    inside quoted text, a key out of line with the one above. (None, column) otherwise.
    """
    source = lines[line] if 0 <= line < len(lines) else ""
    match = _KEY_VALUE.match(source)
    if match and match["value"]:
        value = re.sub(r"\s+#.*$", "", match["value"]).rstrip()
        start = match.start("value")
        first = value[0]
        if first == '"' and value.count('"') > 2 and not value.startswith('"""'):
            inner = value[1:-1] if value.endswith('"') else value[1:]
            return (
                'a " inside text in double quotes ends it early; write the inner quotes as '
                '\\" or put the text in single quotes: '
                f"{match['key']}: '{inner.replace(chr(39), chr(39) * 2)}'"
            ), start
        if first in _INDICATORS and not (first == "-" and value[1:2] not in ("", " ")):
            quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            return (
                f"text that starts with {first} must be in quotes (YAML gives {first} a "
                f"meaning of its own): {match['key']}: {quoted}"
            ), start
    if "expected <block end>" in problem:
        above = _line_above(lines, line)
        if above is not None:
            here = len(source) - len(source.lstrip())
            there = len(lines[above]) - len(lines[above].lstrip())
            if here != there and here > 0:
                return (
                    f"this key is indented {here} space{'s' if here != 1 else ''}, the key "
                    f"above {there}; keys of one mapping line up: indent it {there}"
                ), here
    return None, column


def _line_above(lines: list[str], line: int | None) -> int | None:
    if line is None:
        return None
    for index in range(line - 1, -1, -1):
        stripped = lines[index].strip()
        if stripped and not stripped.startswith("#"):
            return index
    return None


def number_hint(source_line: str, column: int) -> str | None:
    """For a number written where text is wanted: how to keep it text, or None.

    `source_line` is the file's line and `column` (from 1) where the value starts.
    """
    match = _PLAIN_TOKEN.match(source_line, max(column - 1, 0))
    if match is None or not _YAML_NUMBER.fullmatch(match[0]):
        return None
    written = match[0]  # as the author wrote it (0x1F, 1_000, 1e3), not as YAML read it
    digits = written.lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        return (
            f"YAML read {written} as a number and dropped its leading 0; "
            f'quote it to keep the leading 0: "{written}"'
        )
    return f'YAML read {written} as a number; quote it to keep it text: "{written}"'
