"""Sending: dispatch, pacing, retries, the journal, the endpoint, the transport, reports.

Lives here: `dispatch` (concurrency, retries), `answers` (what an answer means),
`journal_writer` (journal writes grouped per loop turn), `pacing` (when requests start),
`stopsignal` (the run's stop flag), `journal` (the SQLite ledger),
`pgjournal` (the shared ledger on PostgreSQL: claims, leases, heartbeats), `dsn` (DSNs shown
without passwords),
`endpoint` (base URL and credentials), `transport` (httpx over aiohttp), `report` (the
send report and merging), `progress` (the bar and the plain lines).
May import: the core only (errors, definition, limits, resources, and `output`/`report` for
writing files and problems). Planning, which compiles bodies, is `linepress.operations.planning`.
"""
