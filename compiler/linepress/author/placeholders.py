"""lint-placeholder: a starter's placeholder still in a definition.

`linepress new` writes definitions holding placeholders (`YOUR-APPLICATION-KEY`,
`Your Shop`) for the author to replace. One left in is sent to customers (or as
the sender key), so `check` warns and `send` refuses.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from linepress.definition import Definition, FieldPath
from linepress.errors import Location, Problem, Severity, format_path

#: What the starters in `templates/starters/` write for the author to replace, and the
#: usual spellings of the kind (`YOUR_API_KEY`, `<YOUR-CHANNEL-ID>`).
PLACEHOLDER = re.compile(r"\bYOUR[-_][A-Z0-9][A-Z0-9_-]*|\bYour Shop\b")
# The same in any case and width (`your-application-key`, `Your_App_Key`, full-width
# `ＹＯＵＲ－ＡＰＰ－ＫＥＹ`), matched on the NFKC-normalised, case-folded text.
_FOLDED = re.compile(r"\byour[-_][a-z0-9][a-z0-9_-]*")


def find_placeholder(text: str) -> str | None:
    """The placeholder `text` holds, as written, in any case or width; None if none."""
    match = PLACEHOLDER.search(text)
    if match is not None:
        return match.group(0)
    # Per body in `send`: skip the normalising unless a `y` could start one.
    if "y" not in text and "Y" not in text and "\uff59" not in text and "\uff39" not in text:
        return None
    folded = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    match = _FOLDED.search(folded)
    if match is None:
        return None
    if len(folded) == len(text):  # one character for one: show it as written
        return text[match.start() : match.end()]
    return match.group(0)


def placeholder_problems(definition: Definition, severity: Severity) -> list[Problem]:
    """One problem per value (body, `vars`, `defaults`, variants) holding a placeholder."""
    problems = []
    for path, text in _strings(definition):
        found = find_placeholder(text)
        if found is None:
            continue
        leaf = definition.values.get(path)
        problems.append(
            Problem(
                f"`{found}` is a starter's placeholder: replace it with the real "
                "value before sending",
                leaf.location if leaf is not None else Location(definition.name, 1, 1),
                path=format_path(path),
                severity=severity,
                code="lint-placeholder",
            )
        )
    return problems


#: Jinja left in a compiled body: `{{ … }}` or `{% … %}` (a body from `compile` has none
#: that came from a definition; a hand-edited or foreign payload file may).
TEMPLATE_TEXT = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{\{|\{%", re.DOTALL)


def leftovers_in_body(body: Any) -> Iterator[tuple[FieldPath, str, str]]:
    """What must not be sent in a ready body: (field path, message, the text found),
    for each string holding a starter's placeholder or template text."""
    for path, text in _walk(body, ()):
        if "{" in text:
            match = TEMPLATE_TEXT.search(text)
            if match is not None:
                found = match.group(0)
                yield (
                    path,
                    f"`{found[:40]}` is template text that was never rendered: compile the "
                    "definition again (`linepress compile`) instead of editing the bodies",
                    found,
                )
                continue
        placeholder = find_placeholder(text)
        if placeholder is not None:
            yield (
                path,
                f"`{placeholder}` is a starter's placeholder: replace it with the "
                "real value in the definition and compile again",
                placeholder,
            )


def _strings(definition: Definition) -> Iterator[tuple[FieldPath, str]]:
    yield from _walk(definition.body, ())
    yield from _walk(definition.vars, ("vars",))
    yield from _walk(definition.defaults, ("defaults",))
    if definition.variants is not None:
        yield from _walk(definition.variants.messages, ("variants", "messages"))


def _walk(value: Any, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _walk(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(child, (*path, index))
