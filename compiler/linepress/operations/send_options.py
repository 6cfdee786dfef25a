"""What a `send` is asked to do: its options, and the shard of the list it sends.

Kept apart from the operation so planning and the campaign's identity (in
`campaign` and `planning`) can read the options without importing the run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from linepress.operations.compile import DataOptions
from linepress.report import DEFAULT_LIMIT
from linepress.send.dispatch import DispatchSettings

#: Where journals live by default, beside the definition; linepress gives it a
#: `.gitignore`, since a journal holds every recipient's ID and message.
JOURNAL_FOLDER = ".linepress"


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count` (1-based): recipients split by a hash of `to`."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = text.partition("/")
        if not (sep and index.isdigit() and count.isdigit()) or not 1 <= int(index) <= int(count):
            raise ValueError(f"expected K/N with 1 <= K <= N, like 2/4 (found {text!r})")
        return cls(int(index), int(count))

    def holds(self, recipient: str) -> bool:
        digest = hashlib.sha256(recipient.encode("utf-8", "surrogatepass")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass(frozen=True, slots=True)
class SendOptions:
    """Everything `send` is asked to do: the source (a definition or payloads), the journal, flags."""

    definition: Path | None = None
    payloads: Path | None = None
    #: `--payloads`: send bodies holding `{{`/`{%` (the recipients' own data).
    allow_braces: bool = False
    data: DataOptions = field(default_factory=DataOptions)
    journal: Path | None = None
    #: A shared journal on PostgreSQL (`postgresql://…`); `journal` is then unused.
    journal_url: str | None = None
    #: The campaign's name in a shared journal (default: the definition's file name).
    campaign: str | None = None
    #: Seconds a worker's claims outlive its last heartbeat (a shared journal).
    lease: float = 30.0
    #: Send again to people an earlier run of this journal already sent to.
    resend_sent: bool = False
    resend_unknown: bool = False
    #: The campaign moves to a new base URL although requests may have reached the old one.
    move_campaign: bool = False
    #: A list with no recipients is a success (otherwise it fails the run).
    allow_empty: bool = False
    allow_duplicates: bool = False
    keep_going: bool = False
    dry_run: bool = False
    shard: Shard | None = None
    report: Path | None = None
    settings: DispatchSettings = field(default_factory=DispatchSettings)
    base_url: str | None = None
    api_key_file: Path | None = None
    basic_auth_file: Path | None = None
    max_errors: int = DEFAULT_LIMIT
