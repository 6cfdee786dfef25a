"""Lint: warnings for definitions that are valid but probably wrong.

Every warning is a `Problem(severity="warning", code="lint-<rule>")`, located like
an error (the YAML node of the template leaf, the field path, the row where one
applies); `--strict` turns them into errors.

Rules:

- `lint-media-extension`: a media link without the file extension LINE needs
  (IMAGE `url`/`thumbnailUrl`, VIDEO `thumbnailUrl`, BUTTONS/CAROUSEL
  `thumbnailImageUrl`: .jpg/.jpeg/.png; VIDEO `url`: .mp4; AUDIO `url`: .mp3/.m4a).
- `lint-unused-column`: a data column that no template reads.
- `lint-cut-text`: Jinja's `truncate` actually shortened a value for a recipient
  (per row), and how often over the whole list (at the end).
- `lint-imagemap-area`: an imagemap action area reaching outside `baseSize`.
- `lint-url-not-encoded`: a URL field that inserts recipient data after the host
  without `| urlencode`.

A `Linter` is built from a `Compiler`. `static()` gives the warnings knowable
without data (static values, the templates' text, the CSV header); `row()` the
warnings of one compiled recipient; `finish()` the summaries over all of them.
Values already checked by `static()` are not checked again per row. Memory does
not grow with the number of rows: `finish()` keeps counters and a few row numbers.

Finding `truncate`'s cuts needs a probe: the environment's `truncate` filter is
wrapped (same output) to count the cuts of each render. After a recipient whose
render cut something, the leaves using `truncate` are evaluated again, in that
recipient's contexts (its variant, each `$for` element), to learn which cut and
by how much. So `row()` must see each result before the next one is rendered,
as `compile_records` streams them. Installing the probe twice is a no-op. A
`truncate` inside an imported macro file is not seen (the macros were compiled
before the probe existed), nor is a slice such as `[:2]`, which is as often a
deliberate code as a cut text.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from jinja2 import Environment, meta, nodes, pass_environment

from linepress.definition import FieldPath, paths_of
from linepress.errors import Location, Problem, describe, format_path
from linepress.pipeline import Compiler, Result
from linepress.render.builders import DYNAMIC, ROW, Context, LeafRenderer, Remap, Renderer
from linepress.report import SAMPLE_ROWS

#: Fields that hold a link.
URL_FIELDS = frozenset({"uri", "linkUri", "url", "thumbnailUrl", "thumbnailImageUrl", "baseUrl"})

_IMAGE = (".jpg", ".jpeg", ".png")
#: Filters whose result is safe anywhere in a URL (encoded, or a number).
_URL_SAFE_FILTERS = frozenset({"urlencode", "int", "float", "round", "abs", "length", "count"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//)?")
#: `$for: name in expression`, as the renderer reads it.
_FOR = re.compile(r"^\s*([A-Za-z_]\w*)\s+in\s+(.+?)\s*$", re.DOTALL)
_ITEM_KEYS = ("$for", "$if")
#: Distinct cuts reported for one recipient (a `$for` over a long list stays bounded).
_MAX_CUTS = 100
#: Stands for an inserted expression in the text of a URL template.
_EXPR = "\0"


@dataclass(frozen=True, slots=True)
class _Media:
    what: str
    extensions: tuple[str, ...]
    formats: str


_IMAGE_MEDIA = _Media("an image", _IMAGE, "JPEG or PNG images")
_VIDEO_MEDIA = _Media("a video", (".mp4",), "MP4 videos")
_AUDIO_MEDIA = _Media("an audio file", (".mp3", ".m4a"), "MP3 or M4A audio")
#: Message type -> media field -> what it must link to.
_MESSAGE_MEDIA: dict[str, dict[str, _Media]] = {
    "IMAGE": {"url": _IMAGE_MEDIA, "thumbnailUrl": _IMAGE_MEDIA},
    "VIDEO": {"url": _VIDEO_MEDIA, "thumbnailUrl": _IMAGE_MEDIA},
    "AUDIO": {"url": _AUDIO_MEDIA},
}


class Linter:
    """Warnings for one definition: static ones, per recipient, and over the whole list."""

    def __init__(
        self,
        compiler: Compiler,
        columns: Sequence[str] | None = None,
        *,
        data_name: str | None = None,
    ) -> None:
        self.compiler = compiler
        self.renderer = compiler.renderer
        self.definition = compiler.definition
        self.columns = tuple(columns) if columns is not None else None
        self.data_name = data_name
        variants = self.definition.variants
        names = list(variants.messages) if variants is not None else [None]
        #: Variant (None: the one message) -> its body with per-recipient values DYNAMIC.
        self._skeletons = dict(zip(names, self.renderer.skeletons(), strict=True))
        self._dynamic = {
            name: set(paths_of(skeleton.body, DYNAMIC))
            for name, skeleton in self._skeletons.items()
        }
        #: Parts of a recipient's body may come from elsewhere in the file (a variant, `$for`).
        self._moves = variants is not None or any(
            leaf.path[-1] in _ITEM_KEYS for leaf in self.renderer.leaves
        )
        self._trees = [
            (leaf, self.renderer.env.parse(leaf.source)) for leaf in self.renderer.leaves
        ]
        #: Text leaves using `truncate` (not `defaults`, used only without a column).
        self._truncating = [
            leaf
            for leaf, tree in self._trees
            if _uses_truncate(tree)
            and leaf.path[0] != "defaults"
            and leaf.path[-1] not in _ITEM_KEYS
        ]
        self._probe = _install_probe(self.renderer) if self._truncating else None
        self._probe_seen = self._probe.cuts if self._probe is not None else 0
        self._items = self._list_items()
        self._rows = 0
        self._cuts: dict[tuple[FieldPath, int], _CutCount] = {}

    # -- the three moments ------------------------------------------------

    def static(self) -> list[Problem]:
        """Warnings knowable without recipients."""
        problems: list[Problem] = []
        for variant, skeleton in self._skeletons.items():

            def known(paths: Iterable[FieldPath], variant: str | None = variant) -> bool:
                return self._known(paths, variant)

            def locate(path: FieldPath, remaps: list[Remap] = skeleton.remaps) -> Location:
                return self.renderer.location(path, remaps)

            problems += self._media(skeleton.body, known, locate)
            problems += self._imagemap(skeleton.body, known, locate)
        return [*problems, *self._unencoded_urls(), *self._unused_columns()]

    def row(self, result: Result) -> list[Problem]:
        """Warnings for one recipient (a result that did not compile is skipped).

        Call it for every result (failed ones too) as it comes out of
        `compile_records`, before the next recipient is rendered: the truncate
        probe counts the cuts of the render just done.
        """
        cut = self._rendered_a_cut()
        if not result.ok or result.body is None or result.fields is None:
            return []
        self._rows += 1
        variant = self._variant_of(result.fields)

        def per_recipient(paths: Iterable[FieldPath]) -> bool:
            return not self._known(paths, variant)

        locate = self._row_locator(result.fields)
        problems = [
            *self._media(result.body, per_recipient, locate),
            *self._imagemap(result.body, per_recipient, locate),
            *(self._cut_texts(result.fields, result.row) if cut else ()),
        ]
        if result.row is None:
            return problems
        return [p.at_row(result.row, result.data_location) for p in problems]

    def finish(self) -> list[Problem]:
        """Warnings about the whole list, after its last row."""
        return [self._cut_summary(key, count) for key, count in self._cuts.items()]

    # -- rules ------------------------------------------------------------

    def _media(self, body: Any, select: _Select, locate: _Locate) -> Iterator[Problem]:
        """lint-media-extension: a media link not ending in the format LINE needs."""
        for path, url, media, depends in _media_links(body):
            if not select((path, *depends)) or not isinstance(url, str):
                continue
            if urlsplit(url).path.lower().endswith(media.extensions):
                continue
            yield _warning(
                "media-extension",
                locate(path),
                path,
                f"{media.what} link should end in {_either(media.extensions)}: LINE shows "
                f"only {media.formats}; link to the file itself",
                found=describe(url),
            )

    def _imagemap(self, body: Any, select: _Select, locate: _Locate) -> Iterator[Problem]:
        """lint-imagemap-area: an action area reaching outside the image."""
        for overflow in _imagemap_overflows(body):
            if not select(overflow.depends):
                continue
            start, size, side = overflow.names
            yield _warning(
                "imagemap-area",
                locate(overflow.area),
                overflow.area,
                f"action area reaches past the {overflow.edge} edge of the image: "
                f"{start} + {size} = {overflow.end} but baseSize.{side} is {overflow.limit}; "
                f"the part outside cannot be tapped, keep {start} + {size} at most "
                f"{overflow.limit}",
            )

    def _unencoded_urls(self) -> Iterator[Problem]:
        """lint-url-not-encoded: recipient data in a URL's path or query, not encoded."""
        constants = set(self.definition.vars) | set(self.renderer.env.globals)
        for leaf, tree in self._trees:
            if not leaf.path or leaf.path[-1] not in URL_FIELDS:
                continue
            for reference, part in _url_insertions(tree, constants):
                yield _warning(
                    "url-not-encoded",
                    leaf.location,
                    leaf.path,
                    f"`{reference}` puts recipient data into the link's {part} without "
                    "`| urlencode`: a space, `&`, `?`, `#` or `/` in it would change the link; "
                    "end that expression with `| urlencode`",
                )

    def _unused_columns(self) -> Iterator[Problem]:
        """lint-unused-column: a data column no template reads."""
        if self.columns is None:
            return
        used, whole_row = self._used_names()
        if whole_row:
            return  # a template reads the record as a whole: every column may matter
        where = (
            Location(self.data_name, 1, None)
            if self.data_name is not None
            else Location(self.definition.name, 1, 1)
        )
        for number, column in enumerate(self.columns, start=1):
            if column in used:
                continue
            usage = f"{{{{ {column} }}}}" if column.isidentifier() else f"{{{{ row[{column!r}] }}}}"
            yield _warning(
                "unused-column",
                where,
                (),
                f"column {number} `{column}` is not used by any template; remove it from the "
                f"data, or use it as {usage}",
            )

    def _cut_texts(self, fields: Mapping[str, Any], row: int | None) -> Iterator[Problem]:
        """lint-cut-text, per recipient: `truncate` shortened this recipient's text."""
        for cut in self._cuts_of(fields):
            key = (cut.leaf.path, cut.length)
            count = self._cuts.get(key)
            if count is None:
                count = self._cuts[key] = _CutCount(cut.leaf)
            count.add(row)
            yield _warning(
                "cut-text",
                cut.leaf.location,
                cut.leaf.path,
                f"text was cut by truncate({cut.length}) for this recipient "
                f"({cut.before} → {cut.after} characters)",
            )

    def _cut_summary(self, key: tuple[FieldPath, int], count: _CutCount) -> Problem:
        """lint-cut-text, over the list: how many recipients had this text cut."""
        rows = ", ".join(map(str, count.rows))
        more = ", …" if count.recipients > len(count.rows) else ""
        noun = "row" if count.recipients == 1 else "rows"
        listed = f" ({noun} {rows}{more})" if count.rows else ""
        return _warning(
            "cut-text",
            count.leaf.location,
            count.leaf.path,
            f"text was cut by truncate({key[1]}) for {count.recipients:,} of "
            f"{self._rows:,} recipients{listed}; check that the cut text still reads well, "
            "or make room for the longest values",
        )

    # -- helpers ----------------------------------------------------------

    def _known(self, paths: Iterable[FieldPath], variant: str | None) -> bool:
        """True when the values at `paths` are the same for every recipient of `variant`."""
        dynamic = self._dynamic.get(variant)
        if dynamic is None:
            return False
        return not any(path[:end] in dynamic for path in paths for end in range(len(path) + 1))

    def _variant_of(self, fields: Mapping[str, Any]) -> str | None:
        """The variant a recipient got (the renderer's own rule)."""
        variants = self.definition.variants
        if variants is None:
            return None
        value = fields.get(variants.by)
        chosen = "" if value is None else str(value).strip()
        return chosen or variants.fallback

    def _row_locator(self, fields: Mapping[str, Any]) -> _Locate:
        """Where a recipient's value comes from; moved parts need that recipient's
        remaps, which only a second render gives (done once, and only for a warning)."""
        remaps: list[list[Remap]] = []

        def locate(path: FieldPath) -> Location:
            if self._moves and not remaps:
                token = _LISTENING.set([])  # not an ordinary render: the probe must not count it
                try:
                    remaps.append(self.renderer.render(fields).remaps)
                finally:
                    _LISTENING.reset(token)
            return self.renderer.location(path, remaps[0] if remaps else ())

        return locate

    def _cuts_of(self, fields: Mapping[str, Any]) -> list[_Cut]:
        """The distinct cuts of one recipient's texts, leaf by leaf."""
        ctx = self.renderer.context(fields)
        variant = self._variant_of(fields)
        cuts: dict[tuple[FieldPath, int, int, int], _Cut] = {}
        for leaf in self._truncating:
            for leaf_ctx in self._contexts(leaf.path, ctx, variant):
                for length, before, after in _listen(leaf, leaf_ctx):
                    if len(cuts) < _MAX_CUTS:
                        key = (leaf.path, length, before, after)
                        cuts.setdefault(key, _Cut(leaf, length, before, after))
        return list(cuts.values())

    def _rendered_a_cut(self) -> bool:
        """Whether `truncate` cut something since the last call (the last recipient's render)."""
        if self._probe is None:
            return False
        seen, self._probe_seen = self._probe_seen, self._probe.cuts
        return self._probe.cuts != seen

    def _contexts(self, path: FieldPath, ctx: Context, variant: str | None) -> list[Context]:
        """The contexts the leaf at `path` was rendered in for one recipient: none
        in a variant they did not get, one per `$for` element, none if `$if` failed."""
        if path[:2] == ("variants", "messages") and path[2:3] != (variant,):
            return []
        contexts = [ctx]
        for end in range(1, len(path)):
            item = self._items.get(path[:end])
            if item is not None:
                contexts = [inner for outer in contexts for inner in item.contexts(outer)]
        return contexts

    def _list_items(self) -> dict[FieldPath, _ListItem]:
        """List items with `$for`/`$if`, by their path in the file."""
        leaves = {leaf.path: leaf for leaf in self.renderer.leaves}
        items: dict[FieldPath, _ListItem] = {}
        for path in leaves:
            if path[-1] not in _ITEM_KEYS or path[:-1] in items:
                continue
            spec = self._raw((*path[:-1], "$for"))
            match = _FOR.match(spec) if isinstance(spec, str) else None
            items[path[:-1]] = _ListItem(
                match.group(1) if match else None,
                leaves.get((*path[:-1], "$for")),
                leaves.get((*path[:-1], "$if")),
            )
        return items

    def _raw(self, path: FieldPath) -> Any:
        """The value the definition file has at `path` (body or variants), or None."""
        variants = self.definition.variants
        node: Any = {
            **self.definition.body,
            "variants": {"messages": variants.messages if variants else {}},
        }
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    def _used_names(self) -> tuple[set[str], bool]:
        """Names the templates read, and whether one reads the record as a whole."""
        used: set[str] = set()
        whole_row = False
        for _, tree in self._trees:
            names, whole = _referenced_names(tree)
            used |= names
            whole_row = whole_row or whole
        # `from`/`to` left out of the body come from the record's column of that name.
        used.update(self.renderer.fallback_keys)
        if self.definition.variants is not None:
            used.add(self.definition.variants.by)
        return used, whole_row


_Select = Callable[[Iterable[FieldPath]], bool]
_Locate = Callable[[FieldPath], Location]


def _warning(
    rule: str, location: Location, path: FieldPath, message: str, found: str | None = None
) -> Problem:
    return Problem(
        message,
        location,
        path=format_path(path),
        found=found,
        severity="warning",
        code=f"lint-{rule}",
    )


# -- media links ------------------------------------------------------------


def _media_links(body: Any) -> Iterator[tuple[FieldPath, Any, _Media, tuple[FieldPath, ...]]]:
    """(path, value, what it must be, paths the decision depends on) of each media link."""
    message = body.get("message") if isinstance(body, Mapping) else None
    if not isinstance(message, Mapping):
        return
    kind = message.get("type")
    type_path: FieldPath = ("message", "type")
    if isinstance(kind, str) and kind in _MESSAGE_MEDIA:
        for key, media in _MESSAGE_MEDIA[kind].items():
            if key in message:
                yield ("message", key), message[key], media, (type_path,)
        return
    template = message.get("template")
    if kind != "TEMPLATE" or not isinstance(template, Mapping):
        return
    depends = (type_path, ("message", "template", "type"))
    if template.get("type") == "BUTTONS" and "thumbnailImageUrl" in template:
        path: FieldPath = ("message", "template", "thumbnailImageUrl")
        yield path, template["thumbnailImageUrl"], _IMAGE_MEDIA, depends
    columns = template.get("columns")
    if template.get("type") == "CAROUSEL" and isinstance(columns, list):
        for index, column in enumerate(columns):
            if isinstance(column, Mapping) and "thumbnailImageUrl" in column:
                path = ("message", "template", "columns", index, "thumbnailImageUrl")
                yield path, column["thumbnailImageUrl"], _IMAGE_MEDIA, depends


def _either(extensions: tuple[str, ...]) -> str:
    return (
        ", ".join(extensions[:-1]) + " or " + extensions[-1]
        if len(extensions) > 1
        else extensions[0]
    )


# -- imagemap areas ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Overflow:
    area: FieldPath
    edge: str
    names: tuple[str, str, str]
    end: int | float
    limit: int | float
    depends: tuple[FieldPath, ...]


def _imagemap_overflows(body: Any) -> Iterator[_Overflow]:
    message = body.get("message") if isinstance(body, Mapping) else None
    if not isinstance(message, Mapping) or message.get("type") != "IMAGEMAP":
        return
    base = message.get("baseSize")
    actions = message.get("actions")
    if not isinstance(base, Mapping) or not isinstance(actions, list):
        return
    for index, action in enumerate(actions):
        area = action.get("area") if isinstance(action, Mapping) else None
        if not isinstance(area, Mapping):
            continue
        area_path: FieldPath = ("message", "actions", index, "area")
        for start, size, side, edge in (
            ("x", "width", "width", "right"),
            ("y", "height", "height", "bottom"),
        ):
            position, extent, limit = area.get(start), area.get(size), base.get(side)
            if not (_is_number(position) and _is_number(extent) and _is_number(limit)):
                continue
            end = position + extent
            if end > limit:
                depends = (
                    ("message", "type"),
                    (*area_path, start),
                    (*area_path, size),
                    ("message", "baseSize", side),
                )
                yield _Overflow(area_path, edge, (start, size, side), end, limit, depends)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- URL templates ----------------------------------------------------------


def _url_insertions(tree: nodes.Template, constants: set[str]) -> list[tuple[str, str]]:
    """(recipient data reference, "path"/"query"/"fragment") of each unencoded insertion
    after the host part of a URL template.

    The template is read as one run of text: `{% if %}` branches one after the other,
    which can only make a later insertion count as past the host a little early.
    """
    found: list[tuple[str, str]] = []
    prefix = ""

    def piece(expr: nodes.Expr) -> None:
        nonlocal prefix
        if isinstance(expr, nodes.Const) and isinstance(expr.value, str):
            prefix += expr.value
        elif isinstance(expr, nodes.Concat):
            for child in expr.nodes:
                piece(child)
        elif isinstance(expr, nodes.Add):
            piece(expr.left)
            piece(expr.right)
        elif isinstance(expr, nodes.Call) and not _past_host(prefix) and expr.args:
            # A macro such as fmt.utm(url, …) builds the link around its first argument.
            piece(expr.args[0])
            prefix += _EXPR
        else:
            part = _url_part(prefix)
            if part is not None:
                found.extend((ref, part) for ref in _data_references(expr, constants))
            prefix += _EXPR

    def walk(body: Iterable[nodes.Node]) -> None:
        nonlocal prefix
        for node in body:
            if isinstance(node, nodes.Output):
                for child in node.nodes:
                    if isinstance(child, nodes.TemplateData):
                        prefix += child.data
                    else:
                        piece(child)
            elif isinstance(node, nodes.If):
                walk(node.body)
                for branch in node.elif_:
                    walk(branch.body)
                walk(node.else_)
            else:
                walk(getattr(node, "body", []))
                walk(getattr(node, "else_", []))

    walk(tree.body)
    return found


def _past_host(prefix: str) -> bool:
    return _url_part(prefix) is not None


def _url_part(prefix: str) -> str | None:
    """Which part of the link the text after `prefix` lands in (None: scheme or host).

    A link that starts with an expression takes its scheme and host from it.
    """
    if prefix.startswith(_EXPR):
        rest = prefix
    else:
        rest = _SCHEME.sub("", prefix, count=1)
        if not any(mark in rest for mark in "/?#"):
            return None
    if "#" in rest:
        return "fragment"
    return "query" if "?" in rest else "path"


def _data_references(expr: nodes.Node, constants: set[str]) -> list[str]:
    """The recipient values an expression reads, outside `| urlencode` (and numbers)."""
    if isinstance(expr, nodes.Filter) and expr.name in _URL_SAFE_FILTERS:
        return []
    if isinstance(expr, nodes.Test | nodes.Compare | nodes.Not):
        return []  # a boolean
    if isinstance(expr, nodes.CondExpr):
        branches = [expr.expr1] if expr.expr2 is None else [expr.expr1, expr.expr2]
        return [ref for branch in branches for ref in _data_references(branch, constants)]
    if isinstance(expr, nodes.Getitem | nodes.Getattr) and _is_row(expr.node):
        key = _row_key(expr)
        return [f"row[{key!r}]" if key is not None else "row"]
    if isinstance(expr, nodes.Name):
        return [] if expr.name in constants else [expr.name]
    references: list[str] = []
    for child in expr.iter_child_nodes():
        for reference in _data_references(child, constants):
            if reference not in references:
                references.append(reference)
    return references


# -- columns the templates read ---------------------------------------------


def _referenced_names(tree: nodes.Template) -> tuple[set[str], bool]:
    """Variables a template reads (`row["x"]` and `row.x` as x), and whether it
    uses the record `row` as a whole (`row | tojson`, `row.items()`, `row[key]`)."""
    names = set(meta.find_undeclared_variables(tree)) - {ROW}
    whole = False

    def visit(node: nodes.Node) -> None:
        nonlocal whole
        if isinstance(node, nodes.Getitem | nodes.Getattr) and _is_row(node.node):
            key = _row_key(node)
            if key is None:
                whole = True
            else:
                names.add(key)
            if isinstance(node, nodes.Getitem):
                visit(node.arg)
            return
        if (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and _is_row(node.node.node)
            and node.node.attr == "get"
            and node.args
            and isinstance(node.args[0], nodes.Const)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
            for child in (*node.args[1:], *node.kwargs):
                visit(child)
            return
        if _is_row(node):
            whole = True
            return
        for child in node.iter_child_nodes():
            visit(child)

    visit(tree)
    return names, whole


def _is_row(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == ROW and node.ctx == "load"


def _row_key(node: nodes.Getitem | nodes.Getattr) -> str | None:
    """The column a `row["x"]` / `row.x` reads; None when it is not one constant column."""
    if isinstance(node, nodes.Getattr):
        # `row.items` is the mapping's method, not a column.
        return None if hasattr(dict, node.attr) else node.attr
    arg = node.arg
    return arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None


# -- the truncate probe -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cut:
    leaf: LeafRenderer
    length: int
    before: int
    after: int


@dataclass(slots=True)
class _CutCount:
    """How many recipients one leaf's truncate cut, and the first few rows."""

    leaf: LeafRenderer
    recipients: int = 0
    rows: list[int] = field(default_factory=list)

    def add(self, row: int | None) -> None:
        self.recipients += 1
        if row is not None and len(self.rows) < SAMPLE_ROWS:
            self.rows.append(row)


class _CutProbe:
    """Counts the cuts `truncate` makes in ordinary renders.

    A render only counts (one comparison per call): leaves may share one Jinja
    render, and a filter compiled into a template learns nothing of which leaf
    or recipient it serves. When the count grew during a recipient's render,
    the linter finds which leaves cut by evaluating the truncating leaves again
    with `_LISTENING` set; recipients without a cut cost nothing more.
    """

    def __init__(self) -> None:
        self.cuts = 0


#: Set while the linter evaluates one leaf again: the cuts it makes, as
#: (truncate length, characters before, characters after).
_LISTENING: ContextVar[list[tuple[int, int, int]] | None] = ContextVar(
    "linepress_lint_listening", default=None
)
_PROBES: weakref.WeakKeyDictionary[Renderer, _CutProbe] = weakref.WeakKeyDictionary()


def _uses_truncate(tree: nodes.Template) -> bool:
    return any(f.name == "truncate" for f in tree.find_all(nodes.Filter))


def _install_probe(renderer: Renderer) -> _CutProbe:
    """Wrap the environment's `truncate` filter (same output); once per renderer."""
    probe = _PROBES.get(renderer)
    if probe is None:
        probe = _PROBES[renderer] = _CutProbe()
        renderer.env.filters["truncate"] = _probed_truncate(renderer.env.filters["truncate"], probe)
    return probe


def _probed_truncate(truncate: Callable[..., Any], probe: _CutProbe) -> Callable[..., Any]:
    # Templates compiled before the wrap pass the environment: keep that signature.
    @pass_environment
    def probed(env: Environment, s: Any, *args: Any, **kwargs: Any) -> Any:
        result = truncate(env, s, *args, **kwargs)
        if result != s:
            heard = _LISTENING.get()
            if heard is None:
                probe.cuts += 1
            else:
                length = args[0] if args else kwargs.get("length", 255)
                heard.append((int(length), len(str(s)), len(str(result))))
        return result

    return probed


def _listen(leaf: LeafRenderer, ctx: Context) -> list[tuple[int, int, int]]:
    """The cuts `leaf` makes when evaluated in `ctx`."""
    heard: list[tuple[int, int, int]] = []
    token = _LISTENING.set(heard)
    try:
        leaf.run(ctx)
    except Exception:  # the recipient compiled, so this is not expected; no cut is known
        return []
    finally:
        _LISTENING.reset(token)
    return heard


@dataclass(frozen=True, slots=True)
class _ListItem:
    """A list item written with `$for` and/or `$if`: the contexts it is built in."""

    name: str | None
    repeat: LeafRenderer | None
    condition: LeafRenderer | None

    def contexts(self, ctx: Context) -> list[Context]:
        try:
            contexts = [ctx]
            if self.repeat is not None and self.name is not None:
                values = self.repeat.run(ctx)
                if isinstance(values, str | bytes | Mapping) or not hasattr(values, "__iter__"):
                    return []
                contexts = [{**ctx, self.name: value} for value in values]
            if self.condition is not None:
                contexts = [c for c in contexts if self.condition.run(c)]
            return contexts
        except Exception:  # as the renderer: such an item is left out
            return []
