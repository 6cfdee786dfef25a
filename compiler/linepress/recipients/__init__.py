"""Recipient data: CSV / TSV / JSON / JSONL readers that yield records with their row numbers.

Lives here, one job a module: `records` (open_records: opens the input, picks the reader),
`source` (the `Record`, `BadRecord` and `RecordSource` types every reader yields),
`delimited` (the CSV/TSV reader), `jsonrecords` (JSON array and JSON Lines readers),
`encoding` (bytes to text: byte order marks, located decoding errors).
May import: the core (`linepress.errors`, `linepress.limits`, `linepress.resources`); not
`linepress.definition` (a reader knows nothing of definitions), nor anything that renders,
validates or sends.
"""
