"""Authoring: what helps a person write a definition: preview, lint, starters.

Lives here: `preview` (an HTML page drawn the way LINE shows messages; its markup and
style are package data in `page/`: Jinja templates and `preview.css`; `message_views`
computes what they show; `live` serves it for `--watch`), `needs` (`linepress vars`), `select` (which
recipients a preview shows), `lint` (warnings for valid but probably wrong definitions,
with what it reads in bodies in `lint_body`, in template syntax in `template_reads`, and
the `truncate` probe in `truncate_probe`), `empty_values` (columns empty in some rows but used
as if present), `placeholders` (a starter's placeholders left in), `starters` (`linepress new`).
May import: `linepress.pipeline`, the wings below it and the core; never `send`, `sandbox`,
`operations` or `cli`.
"""
