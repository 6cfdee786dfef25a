"""DSN forms and password hiding through the real CLI, against a real PostgreSQL."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from postgres import PASSWORD, PASSWORD_ROLE, Cluster

from linepress.cli.main import main
from linepress.send.dsn import is_postgres_url, mask_passwords
from linepress.send.journal import JournalUnavailable
from linepress.send.pgjournal import PgJournal


def test_a_keyword_dsn_is_a_postgresql_journal_and_its_password_never_shows(
    pg_cluster: Cluster, pg_database: str
) -> None:
    keywords = (
        f"host={pg_cluster.socket_dir} dbname={pg_database} user={PASSWORD_ROLE} "
        f"password={PASSWORD}"
    )
    assert is_postgres_url(keywords)
    PgJournal(keywords, "kw").close()  # reached, not taken for a file's path
    shown = CliRunner().invoke(main, ["journal", "status", keywords, "--campaign", "nope"])
    assert shown.exit_code == 2, shown.output
    assert PASSWORD not in shown.output
    assert "folder" not in shown.output and "no linepress journal here" not in shown.output
    assert "--campaign nope" in shown.output  # the location as a shell takes it


@pytest.mark.parametrize("password", ["a", "ab", "in"])
def test_a_short_password_does_not_mangle_the_error(
    pg_cluster: Cluster, pg_database: str, password: str
) -> None:
    url = f"postgresql://{PASSWORD_ROLE}:{password}@b:c@/{pg_database}?host={pg_cluster.socket_dir}"
    with pytest.raises(JournalUnavailable) as caught:
        PgJournal(url, "c")
    shown = str(caught.value)
    assert "***" not in shown.replace(":***@", ""), shown  # no word spoilt
    assert "invalid" in shown or "connect" in shown, shown


def test_masking_keeps_words_and_hides_the_password_where_it_stands() -> None:
    assert mask_passwords('bad: invalid value "a"', ["a"]) == 'bad: invalid value "***"'
    assert mask_passwords("user x: pw-secret-0451 refused", ["pw-secret-0451"]) == (
        "user x: *** refused"
    )
    assert mask_passwords("host secret!abc", ["secret!"]) == "host ***abc"
