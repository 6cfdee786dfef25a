"""The link a recipient's bad link should have been: its culprits `| urlencode`d.

`uri: "https://x.jp/search?q={{ keyword }}"` with `keyword: gift & wrap` renders
`…?q=gift & wrap`. Encoding that whole link as it stands keeps `&` as a query
separator (`q=gift%20&%20wrap`: a parameter named `%20wrap`); what the author
meant, and what LINE accepts, is the template with `{{ keyword | urlencode }}`:
`q=gift%20%26%20wrap`. This renders exactly that, for the error's "write …".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from linepress.render.failures import EXPRESSION
from linepress.render.runners import Context, LeafRenderer, limited_render


def encoded_link(leaf: LeafRenderer, ctx: Context, culprits: Iterable[str]) -> str | None:
    """The leaf rendered for `ctx` with each `{{ expression }}` in `culprits` ending
    in `| urlencode`; None when it cannot be rendered (only a hint is lost)."""
    if leaf.env is None:
        return None
    wanted = set(culprits)
    if not wanted:
        return None

    def encoded(match: re.Match[str]) -> str:
        text = match.group(1)
        return "{{ (" + text + ") | urlencode }}" if text in wanted else match.group(0)

    source = EXPRESSION.sub(encoded, leaf.source)
    try:
        rendered = limited_render(leaf.env, leaf.env.from_string(source))(ctx)
    except Exception:  # only a hint: the leaf's own failure is worded elsewhere
        return None
    return rendered
