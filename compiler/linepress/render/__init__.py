"""Rendering: the sandboxed Jinja environment, leaf templates, the builder tree, the fast path.

Lives here: `templating` (one string leaf, compiled once), `builders` (a definition body as a
tree of builders) with its parts (`building`: render state and basic builders; `items`: `$if` and
`$for`; `variants`; `imports`; `reads`: the names a template reads), `limits` and `reach` (the
sandbox's budgets and file reach), `fastpath` (one generated Python function per definition).
May import: the core and `linepress.validate` (the fast path inlines the per-leaf checks).
"""
