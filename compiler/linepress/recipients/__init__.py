"""Recipient data: CSV / TSV / .xlsx / JSON / JSONL readers that yield records with their row numbers.

Lives here, one job a module: `records` (open_records: opens the input, picks the reader),
`source` (the `Record`, `BadRecord` and `RecordSource` types every reader yields),
`delimited` (the CSV/TSV reader and the delimiter rule), `encoding` (bytes to text: byte
order marks, codecs, the record size cap, located decoding errors), `guess` (the
"pass --encoding cp932" hint), `jsonrecords` (JSON array and JSON Lines readers),
`jsonkeys` (their repeated keys), `xlsx` (.xlsx workbooks), `xlsx_cells` (their
numbers by number format) and `xlsx_strings` (their shared strings, kept on disk).
May import: the core (`linepress.errors`, `linepress.limits`, `linepress.resources`); not
`linepress.definition` (a reader knows nothing of definitions), nor anything that renders,
validates or sends.
"""
