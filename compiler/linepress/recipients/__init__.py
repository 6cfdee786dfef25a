"""Recipient data: CSV / TSV / JSON / JSONL readers that yield records with their row numbers.

Lives here: the readers and the `Record` they yield, each knowing its file, row and line.
May import: the core (`linepress.errors`, `linepress.limits`). Nothing that renders,
validates or sends.
"""
