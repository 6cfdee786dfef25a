"""Recipient data: CSV / TSV / JSON / JSONL readers that yield records with their row numbers.

Lives here: the readers and the `Record` they yield, each knowing its file, row and line.
May import: the core (`linepress.errors`, `linepress.limits`, `linepress.resources`); not
`linepress.definition` (a reader knows nothing of definitions), nor anything that renders,
validates or sends.
"""
