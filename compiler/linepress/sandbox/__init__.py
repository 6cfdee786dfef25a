"""The sandbox: a local stand-in for Infobip's `POST /line/1/single` on loopback.

Lives here: the raw asyncio HTTP/1.1 server, its fault injection and its request record.
May import: `linepress.validate` (to check requests as Infobip would) and the lowest core
(`errors`, `limits`, `resources`); not `definition`, `pipeline`, `render`, `recipients` or
`report` (it renders nothing).
"""
