"""Operations: `compile`, `check` and `send` as library calls that never print or exit.

Lives here: `compile` (compile and check files into bodies and a problem log), `send`
(plan every recipient into the journal, dispatch, report).
May import: every wing (`pipeline`, `author`, `send`, `recipients`, ...) and the core;
never `cli`.
"""
