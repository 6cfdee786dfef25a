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
- `lint-recipient-key`: a `to` from the data that looks like no LINE user ID, phone
  number or UUID (damaged keys are schema errors, see `linepress.validate.values`).
- `lint-empty-value`: a column empty for some recipients but printed outside an
  `{% if %}` in a sentence or a link (`linepress.author.empty_values`), at the end.
- `lint-placeholder`: a starter's placeholder left in (`linepress.author.placeholders`).
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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from linepress.author.empty_values import EmptyValues
from linepress.author.lint_body import either, imagemap_overflows, media_links
from linepress.author.needs import raw_value
from linepress.author.placeholders import placeholder_problems
from linepress.author.template_reads import referenced_names, url_insertions, uses_truncate
from linepress.author.truncate_probe import (
    LISTENING,
    Cut,
    CutCount,
    ListItem,
    install_probe,
    listen,
)
from linepress.definition import FieldPath, paths_of
from linepress.errors import Location, Problem, describe, format_path
from linepress.pipeline import Compiler, Result
from linepress.render.builders import DYNAMIC, Context, Remap
from linepress.validate.values import key_problem, looks_like_key

#: Fields that hold a link.
URL_FIELDS = frozenset({"uri", "linkUri", "url", "thumbnailUrl", "thumbnailImageUrl", "baseUrl"})

#: `$for: name in expression`, as the renderer reads it.
_FOR = re.compile(r"^\s*([A-Za-z_]\w*)\s+in\s+(.+?)\s*$", re.DOTALL)
_ITEM_KEYS = ("$for", "$if")
#: Distinct cuts reported for one recipient (a `$for` over a long list stays bounded).
_MAX_CUTS = 100


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
            if uses_truncate(tree)
            and leaf.path[0] != "defaults"
            and leaf.path[-1] not in _ITEM_KEYS
        ]
        self._probe = install_probe(self.renderer) if self._truncating else None
        self._probe_seen = self._probe.cuts if self._probe is not None else 0
        self._items = self._list_items()
        self._empty = EmptyValues(self.renderer, self.columns)
        self._rows = 0
        self._cuts: dict[tuple[FieldPath, int], CutCount] = {}

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
        return [
            *problems,
            *self._unencoded_urls(),
            *self._comments_cutting_text(),
            *self._unused_columns(),
            *placeholder_problems(self.definition, "warning"),
        ]

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
        self._empty.see(result.fields, result.row, variant)

        def per_recipient(paths: Iterable[FieldPath]) -> bool:
            return not self._known(paths, variant)

        locate = self._row_locator(result.fields)
        problems = [
            *self._media(result.body, per_recipient, locate),
            *self._imagemap(result.body, per_recipient, locate),
            *self._keys(result.body, lambda path: per_recipient([path]), locate),
            *(self._cut_texts(result.fields, result.row) if cut else ()),
        ]
        if result.row is None:
            return problems
        return [p.at_row(result.row, result.data_location) for p in problems]

    def finish(self) -> list[Problem]:
        """Warnings about the whole list, after its last row."""
        return [
            *(self._cut_summary(key, count) for key, count in self._cuts.items()),
            *self._empty.summaries(),
        ]

    # -- rules ------------------------------------------------------------

    def _media(self, body: Any, select: _Select, locate: _Locate) -> Iterator[Problem]:
        """lint-media-extension: a media link not ending in the format LINE needs."""
        for path, url, media, depends in media_links(body):
            if not select((path, *depends)) or not isinstance(url, str):
                continue
            if urlsplit(url).path.lower().endswith(media.extensions):
                continue
            yield _warning(
                "media-extension",
                locate(path),
                path,
                f"{media.what} link should end in {either(media.extensions)}: LINE shows "
                f"only {media.formats}; link to the file itself",
                found=describe(url),
            )

    def _imagemap(self, body: Any, select: _Select, locate: _Locate) -> Iterator[Problem]:
        """lint-imagemap-area: an action area reaching outside the image."""
        for overflow in imagemap_overflows(body):
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

    def _keys(
        self, body: Any, select: Callable[[FieldPath], bool], locate: _Locate
    ) -> Iterator[Problem]:
        """lint-recipient-key: a `to` from the data that looks like no LINE user ID (`U` +
        32 hex), phone number or UUID. Damaged keys are errors (the schema's x-recipientKey);
        `from` is an application key, whose form is Infobip's to decide."""
        for key in ("to",):
            value = body.get(key) if isinstance(body, Mapping) else None
            if not isinstance(value, str) or not select((key,)) or looks_like_key(value):
                continue
            if key_problem(value) is not None or not value:
                continue  # an error says what is wrong with it
            yield _warning(
                "recipient-key",
                locate((key,)),
                (key,),
                f"`{key}` looks like none of a LINE user ID (U + 32 hex digits), a phone "
                "number (digits, optional +) or a UUID: check the data",
                found=describe(value),
            )

    def _unencoded_urls(self) -> Iterator[Problem]:
        """lint-url-not-encoded: recipient data in a URL's path or query, not encoded."""
        constants = set(self.definition.vars) | set(self.renderer.env.globals)
        for leaf, tree in self._trees:
            if not leaf.path or leaf.path[-1] not in URL_FIELDS:
                continue
            for reference, part in url_insertions(tree, constants):
                yield _warning(
                    "url-not-encoded",
                    leaf.location,
                    leaf.path,
                    f"`{reference}` puts recipient data into the link's {part} without "
                    "`| urlencode`: a space, `&`, `?`, `#` or `/` in it would change the link; "
                    "end that expression with `| urlencode`",
                )

    def _comments_cutting_text(self) -> Iterator[Problem]:
        """lint-comment-cuts-text: `text: 50% off # today only` sends "50% off".

        In YAML ` #` after an unquoted value starts a comment, so the rest of the
        line silently leaves the message. Reads the definition file once.
        """
        try:
            lines = self.definition.path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError):
            return
        for path, leaf in self.definition.values.items():
            where = leaf.location
            if leaf.block or not path or path[0] not in ("message", "variants"):
                continue
            if where.line is None or where.column is None or not 0 < where.line <= len(lines):
                continue
            value = raw_value(self.definition, path)
            if not isinstance(value, str) or not value:
                continue
            line = lines[where.line - 1]
            start = where.column - 1
            if line[start : start + 1] in ("'", '"') or not line.startswith(value, start):
                continue  # quoted, or not laid out on one line as written
            rest = line[start + len(value) :]
            if not re.match(r"\s+#", rest):
                continue
            whole = line[start:].rstrip()
            quoted = '"' + whole.replace("\\", "\\\\").replace('"', '\\"') + '"'
            yield _warning(
                "comment-cuts-text",
                where,
                path,
                f"` #` starts a YAML comment: the text ends before it and sends {value!r}; "
                f"to keep the rest, put the whole text in quotes: {path[-1]}: {quoted}",
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
                count = self._cuts[key] = CutCount(cut.leaf)
            count.add(row)
            yield _warning(
                "cut-text",
                cut.leaf.location,
                cut.leaf.path,
                f"text was cut by truncate({cut.length}) for this recipient "
                f"({cut.before} → {cut.after} characters)",
            )

    def _cut_summary(self, key: tuple[FieldPath, int], count: CutCount) -> Problem:
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
                token = LISTENING.set([])  # not an ordinary render: the probe must not count it
                try:
                    remaps.append(self.renderer.render(fields).remaps)
                finally:
                    LISTENING.reset(token)
            return self.renderer.location(path, remaps[0] if remaps else ())

        return locate

    def _cuts_of(self, fields: Mapping[str, Any]) -> list[Cut]:
        """The distinct cuts of one recipient's texts, leaf by leaf."""
        ctx = self.renderer.context(fields)
        variant = self._variant_of(fields)
        cuts: dict[tuple[FieldPath, int, int, int], Cut] = {}
        for leaf in self._truncating:
            for leaf_ctx in self._contexts(leaf.path, ctx, variant):
                for length, before, after in listen(leaf, leaf_ctx):
                    if len(cuts) < _MAX_CUTS:
                        key = (leaf.path, length, before, after)
                        cuts.setdefault(key, Cut(leaf, length, before, after))
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

    def _list_items(self) -> dict[FieldPath, ListItem]:
        """List items with `$for`/`$if`, by their path in the file."""
        leaves = {leaf.path: leaf for leaf in self.renderer.leaves}
        items: dict[FieldPath, ListItem] = {}
        for path in leaves:
            if path[-1] not in _ITEM_KEYS or path[:-1] in items:
                continue
            spec = raw_value(self.definition, (*path[:-1], "$for"))
            match = _FOR.match(spec) if isinstance(spec, str) else None
            items[path[:-1]] = ListItem(
                match.group(1) if match else None,
                leaves.get((*path[:-1], "$for")),
                leaves.get((*path[:-1], "$if")),
            )
        return items

    def _used_names(self) -> tuple[set[str], bool]:
        """Names the templates read, and whether one reads the record as a whole."""
        used: set[str] = set()
        whole_row = False
        for _, tree in self._trees:
            names, whole = referenced_names(tree)
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
