"""How a compiled string leaf runs for one recipient, with as little Jinja as it needs.

- `{{ name }}`: a dictionary lookup (`lookup_runner`);
- `Hello {{ name }}!`: generated string concatenation (`concatenation_runner`);
- one `{{ expression }}`: a compiled Jinja expression that keeps its value's type;
- anything else: a template render bounded by the limits (`limited_render`), and
  several such leaves of one context share one render (`LeafBatch`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

from jinja2 import Template, nodes
from jinja2.exceptions import UndefinedError

from linepress.definition import FieldPath
from linepress.errors import Location
from linepress.render.jsontext import text_of
from linepress.render.limits import MAX_TEXT, LimitedEnvironment, RenderLimit

#: Variable name under which a template sees the whole recipient record.
ROW = "row"

Context = dict[str, Any]


@dataclass(frozen=True, slots=True)
class LeafRenderer:
    """How one dynamic string leaf becomes a value."""

    #: Where the leaf sits in the definition file (its YAML path).
    path: FieldPath
    location: Location
    source: str
    run: Callable[[Context], Any]
    #: "integer" or "number" when the API wants a number here.
    numeric: str | None
    #: A general Jinja template that renders to text: such leaves can share one render.
    batchable: bool = False
    #: `{{ name }}`: the name looked up (what `run` does, for generated code).
    lookup: str | None = None
    #: Plain text and names (`Hello {{ name }}`): what `run` joins, for generated code.
    parts: tuple[tuple[bool, str], ...] | None = None
    #: The API wants a string here: a number, boolean or null becomes its text.
    text: bool = False
    #: The environment it was compiled in (to word failures with its expressions).
    env: LimitedEnvironment | None = None


class LeafBatch:
    """Several text templates rendered by one Jinja call per recipient.

    A Jinja render has a fixed cost (context set-up, the sandbox) several times
    that of a short template's own work, so the leaves evaluated in one context
    are joined into one template, each in its own `{% with %}` scope, separated
    by a random marker. Anything unexpected (an error in any leaf, a marker
    count that does not match because the data happens to contain it) returns
    None and the caller renders leaf by leaf, which words errors exactly.
    """

    def __init__(self, env: LimitedEnvironment, leaves: list[LeafRenderer]) -> None:
        self.leaves = leaves
        self._marker = f"\x00{secrets.token_hex(8)}\x00"
        source = self._marker.join("{% with %}" + leaf.source + "{% endwith %}" for leaf in leaves)
        try:
            self._render: Callable[[Context], str] | None = limited_render(
                env, env.from_string(source)
            )
        except Exception:
            self._render = None  # e.g. a leaf with a block that cannot nest: no batching

    def render(self, ctx: Context) -> list[str] | None:
        if self._render is None:
            return None
        try:
            texts = self._render(ctx).split(self._marker)
        except Exception:  # rendered again leaf by leaf, which reports it
            return None
        return texts if len(texts) == len(self.leaves) else None


def plain_parts(tree: nodes.Template, globals_: Mapping[str, Any]) -> list[tuple[bool, str]] | None:
    """`Hello {{ name }}!` as [(False, "Hello "), (True, "name"), (False, "!")]; None if not that simple.

    Names of Jinja globals (imports, `range`, ...) are left to Jinja, which looks them up there.
    """
    parts: list[tuple[bool, str]] = []
    for node in tree.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append((False, child.data))
            elif (
                isinstance(child, nodes.Name) and child.ctx == "load" and child.name not in globals_
            ):
                parts.append((True, child.name))
            else:
                return None
    return parts


def concatenation_runner(parts: list[tuple[bool, str]]) -> Callable[[Context], str]:
    """The same text Jinja would render, without Jinja: `str()` of each value, strict about missing names.

    Compiled to one Python expression (`"Hello " + str(ctx["name"]) + "!"`): every
    literal and name is written with `repr`, so no text of the template or the
    data can become code.
    """
    terms = [f"_str(ctx[{text!r}])" if is_name else repr(text) for is_name, text in parts]
    source = (
        "def run(ctx):\n"
        "    try:\n"
        f"        return {' + '.join(terms) or repr('')}\n"
        "    except KeyError as exc:\n"
        "        raise _undefined(exc) from None\n"
    )
    namespace: dict[str, Any] = {"_str": text_of, "_undefined": _undefined_error}
    exec(compile(source, "<linepress text>", "exec"), namespace)  # built from repr() only
    run: Callable[[Context], str] = namespace["run"]
    return run


def _undefined_error(exc: KeyError) -> UndefinedError:
    return UndefinedError(f"'{exc.args[0]}' is undefined")


def lookup_runner(name: str) -> Callable[[Context], Any]:
    """`{{ name }}` without Jinja: a missing name raises like StrictUndefined would."""

    def run(ctx: Context) -> Any:
        try:
            return ctx[name]
        except KeyError:
            raise UndefinedError(f"'{name}' is undefined") from None

    return run


def expression_runner(
    env: LimitedEnvironment, compiled: Callable[..., Any]
) -> Callable[[Context], Any]:
    start = env.start

    def run(ctx: Context) -> Any:
        start()
        # Positionally: as keywords, a column named `self` would collide with
        # `TemplateExpression.__call__(self, ...)`.
        return compiled(ctx)

    return run


def limited_render(env: LimitedEnvironment, template: Template) -> Callable[[Context], str]:
    """`template.render`, with a fresh step budget and at most `MAX_TEXT` characters out.

    The output is counted as it comes, so a loop that prints stops at the limit
    instead of after filling memory.
    """
    root, new_context, start = template.root_render_func, template.new_context, env.start

    def render(ctx: Context) -> str:
        start()
        chunks = root(new_context(ctx))
        # Most templates write a few dozen pieces: taken at C speed, then measured.
        parts = list(islice(chunks, _FIRST_PARTS))
        size = sum(map(len, parts))
        if len(parts) == _FIRST_PARTS:  # a long output (a loop): measured as it comes
            for part in chunks:
                size += len(part)
                if size > MAX_TEXT:
                    break
                parts.append(part)
        if size > MAX_TEXT:
            raise RenderLimit(
                f"the template writes more than {MAX_TEXT:,} characters for one recipient"
            )
        return "".join(parts)

    return render


_FIRST_PARTS = 64


def single_expression(
    tree: nodes.Template, source: str, globals_: Mapping[str, Any]
) -> str | tuple[str] | None:
    """For a leaf that is one `{{ ... }}` and nothing else: the variable name
    (a plain lookup) or a 1-tuple with the expression source; otherwise None."""
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    if source != source.strip():
        return None  # `  {{- x -}}  ` or a block scalar's `{{ x }}\n`: Jinja renders text
    output = tree.body[0].nodes
    if len(output) != 1 or isinstance(output[0], nodes.TemplateData):
        return None
    if not (source.startswith("{{") and source.endswith("}}")) or source.count("{{") != 1:
        return None
    inner = source[2:-2].strip("-+").strip()
    if isinstance(output[0], nodes.Name) and inner == output[0].name and inner not in globals_:
        return inner
    return (inner,)
