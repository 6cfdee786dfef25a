"""Validation: the shipped JSON Schemas, their generator, LINE's limits and the leaf checks.

Lives here: `schema` (loading, registry), `schemagen` + `overrides` + `authoring` (generating
`schemas/*.json` from the documentation tables), `body` (full validation with human
messages), `fastcheck` (per-recipient leaf checks), `values` (checks of one value: links,
recipient keys), `request_check` (a whole request, for the sandbox), `verdicts` (cache).
May import: the core only (`linepress.errors`, `definition`, `limits`, `resources`).
"""
