"""A send's campaign: where its journal lives, what binds a plan to it, what to tell the user.

A journal is a campaign. Its plan is bound to a fingerprint of the definition
(and the files it imports), the data and the options; the base URL and shard
are its binding, which never changes. `plan_notes` says what a continued
campaign does before anything is sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Protocol, runtime_checkable

from linepress.definition import load_definition
from linepress.errors import LinepressError, Location, Problem, UsageError
from linepress.operations.inputs import definition_inputs, same_file
from linepress.operations.send_options import JOURNAL_FOLDER, SendOptions
from linepress.recipients.records import ReadOptions
from linepress.resources import resource_dir
from linepress.send.backends import open_journal
from linepress.send.journal import CampaignJournal, PlanCounts


def default_journal_path(options: SendOptions) -> Path:
    """`.linepress/spring.db` beside the definition (or payload file), one per shard.

    A journal at the place older versions used (`spring.linepress.db` beside the
    definition) is used where it is, so an upgrade does not restart a campaign.
    """
    source = options.definition or options.payloads
    assert source is not None
    stem = source.stem
    if options.shard is not None:
        stem += f".shard-{options.shard.index}-of-{options.shard.count}"
    legacy = source.with_name(f"{stem}.linepress.db")
    if legacy.exists():
        return legacy
    return source.parent / JOURNAL_FOLDER / f"{stem}.db"


def default_campaign(options: SendOptions) -> str:
    """A shared journal's campaign name when none is given: the definition's (or payloads') file stem."""
    source = options.definition or options.payloads
    assert source is not None
    name = source.stem
    if options.shard is not None:
        name += f".shard-{options.shard.index}-of-{options.shard.count}"
    return name


def journal_folder(path: Path) -> None:
    """Create the default journal folder with a `.gitignore` that keeps it out of git."""
    if path.parent.name != JOURNAL_FOLDER or path.parent.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # private: see below
    (path.parent / ".gitignore").write_text(
        "# linepress journals hold every recipient's ID and message: never commit them.\n*\n"
    )


@contextlib.contextmanager
def open_campaign_journal(options: SendOptions) -> Iterator[CampaignJournal]:
    """The run's journal, closed on exit: a throwaway one for a dry run, else the campaign's.

    Raises `UsageError` (from `open_journal`) for a file that is not a journal.
    """
    if options.dry_run:
        # A rehearsal must not mark anyone as sent in the real journal, yet do what a
        # real run would: it runs on a copy of the campaign's journal, read read-only.
        with tempfile.TemporaryDirectory(prefix="linepress-dry-run-") as folder:
            scratch = Path(folder) / "dry-run.db"
            real = None if options.journal_url else options.journal or default_journal_path(options)
            if real is not None and real.is_file():
                copy_journal(real, scratch)
            try:
                journal = open_journal(scratch)
            except UsageError as exc:  # not a journal: name the real file
                raise UsageError(
                    replace(p, location=Location(str(real))) for p in exc.problems
                ) from None
            try:
                yield journal
            finally:
                journal.close()
        return
    if options.journal_url is not None:
        # A campaign in a PostgreSQL journal; many workers may share it. Small claims: a
        # worker holds about what it sends soon, the rest stay in the pool for the others.
        journal = open_journal(
            options.journal_url,
            campaign=options.campaign or default_campaign(options),
            lease=options.lease,
            claim_size=max(8, options.settings.concurrency),
        )
        try:
            yield journal
        finally:
            journal.close()
        return
    path = options.journal or default_journal_path(options)
    if options.journal is None:
        journal_folder(path)
    created = not path.exists()
    journal = open_journal(path)
    if created and path.is_file():
        # every recipient's ID and message: readable by its owner only (SQLite gives
        # its -wal/-shm files the same mode)
        with contextlib.suppress(OSError):
            path.chmod(0o600)
    try:
        yield journal
    finally:
        journal.close()


def copy_journal(real: Path, copy: Path) -> None:
    """Copy the SQLite journal at `real` to `copy`, reading `real` only (never locking or
    writing it: a run may be sending from it). Raises `UsageError` when it is not a journal."""
    # A journal no run holds has no -wal file: read it as immutable, so not even SQLite's
    # -shm/-wal side files appear beside it.
    quiet = "&immutable=1" if not Path(f"{real}-wal").exists() else ""
    uri = f"file:{urllib.parse.quote(str(real.resolve()))}?mode=ro{quiet}"
    try:
        with (
            contextlib.closing(sqlite3.connect(uri, uri=True)) as source,
            contextlib.closing(sqlite3.connect(copy)) as target,
        ):
            source.backup(target)
    except sqlite3.Error as exc:
        raise UsageError(
            Problem(
                f"the dry run cannot read this journal ({exc})", Location(str(real)), code="journal"
            )
        ) from None


@contextlib.contextmanager
def spooled_stdin() -> Iterator[tuple[Path, str]]:
    """Standard input copied to a temporary file: (its path, its SHA-256 hex digest)."""
    with tempfile.TemporaryDirectory(prefix="linepress-stdin-") as folder:
        path = Path(folder) / "stdin"
        digest = hashlib.sha256()
        with path.open("wb") as copy:
            while chunk := sys.stdin.buffer.read(1 << 20):
                digest.update(chunk)
                copy.write(chunk)
        yield path, digest.hexdigest()


def binding(options: SendOptions, base_url: str) -> str:
    """What a campaign never changes: where it sends, and which shard it is."""
    return f"base URL {base_url}" + (f", shard {options.shard}" if options.shard else "")


@runtime_checkable
class Rebindable(Protocol):
    """A journal whose campaign can move to another base URL (the SQLite one)."""

    def reached_anyone(self) -> bool: ...
    def rebind(self, binding: str) -> None: ...


def rebind_campaign(
    journal: CampaignJournal, bound: str, options: SendOptions, say: Callable[[str], object]
) -> bool:
    """Move the campaign to the base URL in `bound` when only that changed, and either no
    request of it can have reached any endpoint (a wrong host, port or scheme: nothing was
    sent, in flight, unknown or answered), or `options.move_campaign` says it is the same
    endpoint under a new address. True when it moved (`say` tells the user).

    Otherwise nothing changes and `claim` refuses the mismatch. Who was reached stays
    recorded either way, so nobody gets a second message.
    """
    recorded = journal.meta("binding")
    if recorded is None or recorded == bound or not isinstance(journal, Rebindable):
        return False
    if _shard_part(recorded) != _shard_part(bound):
        return False  # another shard is another list: never moved
    if journal.reached_anyone():
        if not options.move_campaign:
            raise UsageError(
                Problem(
                    f"this journal is the campaign for {recorded}, not {bound}, and requests "
                    "of it may have reached that endpoint: pass --journal PATH to keep a "
                    "separate campaign, or --move-campaign if it is the same endpoint under "
                    "a new address (those already reached stay skipped)",
                    Location(journal.location),
                    code="journal",
                )
            )
        why = "--move-campaign"
    else:
        why = "no request of it reached any endpoint"
    verb = "a real run would move" if options.dry_run else "moved"  # a dry run moves a copy
    say(f"{verb} the campaign from {recorded} to {bound}: {why}")
    journal.rebind(bound)
    return True


def _shard_part(binding: str) -> str:
    match = re.search(r", shard \S+$", binding)
    return match.group(0) if match else ""


def fingerprint(options: SendOptions, stdin: tuple[Path, str] | None) -> str:
    """What makes a plan this plan: the definition and its imports (or the payloads), the data, the options."""
    digest = hashlib.sha256(b"linepress send v3\0")
    for part in (options.definition, options.payloads):
        digest.update(b"\0source\0")
        if part is not None:
            hash_file(digest, part)
    imports = imported_files(options.definition)
    for imported in imports:
        digest.update(b"\0import\0")
        hash_file(digest, imported)
    # Templates the definition or its macro files include: an edited footer is a changed
    # definition, not a resume of bodies planned with the old one. (Only when there are
    # any, so a journal of a definition without includes keeps its digest.)
    for included in definition_inputs(options.definition):
        if not any(same_file(included, imported) for imported in imports):
            digest.update(b"\0include\0")
            hash_file(digest, Path(included))
    data = options.data.path
    digest.update(b"\0data\0")
    if stdin is not None:
        digest.update(stdin[1].encode())
    elif data is not None:
        hash_file(digest, Path(data))
    digest.update(f"\0{options.data.format}\0{options.data.delimiter}\0{options.shard}\0".encode())
    if options.data.reading != ReadOptions():  # only then: older journals keep their digest
        digest.update(f"{options.data.reading}\0".encode())
    digest.update(f"{options.allow_duplicates}\0{options.keep_going}".encode())
    return digest.hexdigest()


def imported_files(definition: Path | None) -> list[Path]:
    """The macro files a definition imports, where they can be found (best effort)."""
    if definition is None:
        return []
    try:
        imports = load_definition(definition).imports
    except LinepressError:
        return []  # planning reports it
    found = []
    for target in imports.values():
        for folder in (definition.parent, resource_dir("templates")):
            if (folder / target).is_file():
                found.append(folder / target)
                break
    return found


def hash_file(digest: hashlib._Hash, path: Path) -> None:
    """Feed the file's bytes to `digest`; an unreadable file feeds a marker instead."""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        digest.update(b"<unreadable>")  # the planning step reports it properly


def description(options: SendOptions) -> str:
    """What a run sends, as the journal's runs list shows it ("definition x.yaml, data y.csv")."""
    source = (
        f"definition {options.definition}" if options.definition else f"payloads {options.payloads}"
    )
    data = f", data {options.data.path}" if options.data.path else ""
    shard = f", shard {options.shard}" if options.shard else ""
    return source + data + shard


def plan_notes(claim: str, plan: PlanCounts, options: SendOptions) -> Iterator[str]:
    """What a person must know before a changed campaign goes on."""
    if options.resend_sent:
        yield (
            f"linepress send: --resend-sent: {plan.resend:,} received an earlier version and "
            f"are sent this one; {plan.already_sent:,} already received this version and are "
            f"skipped; {plan.pending:,} not yet sent"
        )
    elif claim == "changed" and (plan.already_sent or plan.earlier_unknown):
        text = (
            "linepress send: this journal's campaign goes on with a changed definition or list: "
            f"{plan.already_sent:,} already received an earlier version and are skipped; "
        )
        if plan.earlier_unknown:
            text += f"{plan.earlier_unknown:,} may have received one (unknown, not resent); "
        text += (
            f"{plan.pending:,} not yet sent (--resend-sent to send this version to those an "
            "earlier version reached)"
        )
        yield text
    if plan.dropped:
        yield (
            f"linepress send: {plan.dropped:,} people this campaign reached are not in this "
            "list: they stay in its counts and reports (rows after the list's last)"
        )
    if plan.duplicates and not options.allow_duplicates:
        yield (
            f"linepress send: {plan.duplicates:,} "
            + ("row repeats" if plan.duplicates == 1 else "rows repeat")
            + " the recipient of an earlier row and "
            + ("is" if plan.duplicates == 1 else "are")
            + " skipped (--allow-duplicates to send each)"
        )
