"""Operations: `compile`, `check` and `send` as library calls that never print or exit.

Lives here: `compile` (compile and check files into bodies and a problem log), `send`
(plan every recipient into the journal, dispatch, report) with its parts `send_options`
(the options, shards), `campaign` (the journal's place, the plan's fingerprint, what a
continued campaign says) and `planning` (compile and check every row into the journal),
`journal` (status, report and settle on a journal), `duplicates` (rows that repeat a recipient).
May import: every wing (`pipeline`, `author`, `send`, `recipients`, ...) and the core;
never `cli`.
"""
