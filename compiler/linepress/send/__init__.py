"""Sending: dispatch, pacing, retries, the journal, the endpoint, the transport, reports.

Lives here: `dispatch` (concurrency, retries), `answers` (what an answer means),
`journal_writer` (journal writes grouped per loop turn, or per commit in a thread for
PostgreSQL), `pacing` (when requests start) with `ratewindow` (rates over a sliding span), `breaker`
(stopping on an outage), `stopsignal` (the run's stop flag),
`journal` (what every journal offers), `backends` (opening one by its location), `ledger` (the rules both journals
share), `sqlite_journal` (the SQLite ledger), `pgjournal` (the shared ledger on PostgreSQL:
claims, sending, reading) with `pgdb` (connections, schema), `pglease` (a worker's lease
and heartbeat) and `pgcampaign` (binding, planning, settling), `dsn` (DSNs shown
without passwords),
`endpoint` (base URL and credentials), `transport` (httpx over aiohttp), `report` (the
send report and merging), `progress` (the bar and the plain lines).
May import: the core only (errors, definition, limits, resources, and `output`/`report` for
writing files and problems). Planning, which compiles bodies, is `linepress.operations.planning`.
"""
