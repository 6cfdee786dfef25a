"""Authoring: what helps a person write a definition: preview, lint, starters.

Lives here: `preview` (an HTML page drawn the way LINE shows messages), `select` (which
recipients a preview shows), `lint` (warnings for valid but probably wrong definitions),
`starters` (`linepress new`).
May import: `linepress.pipeline`, the wings below it and the core; never `send`, `sandbox`,
`operations` or `cli`.
"""
