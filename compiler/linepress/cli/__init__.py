"""The `linepress` command: flags in, one core call, a report, an exit code.

Lives here: the click commands only. May import anything; nothing imports it but
`linepress.__main__` and the `linepress` script.
"""
