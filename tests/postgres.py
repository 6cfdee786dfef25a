"""A throw-away PostgreSQL cluster for the tests: real server, Unix socket, temp folder.

The cluster runs as an unprivileged user (PostgreSQL refuses to run as root, and CI
runs as root): `postgres` when it exists (Debian's package creates it), else `nobody`.
It listens on no TCP port, only on a socket in its own temp folder, trusts local
connections except for the role `linepress_pw`, which needs its password (so the
tests can prove a password works and never shows). Never mocked; in CI (`CI=true`)
a missing PostgreSQL fails the tests instead of skipping them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSWORD = "pg-secret-hunter2-0451"
PASSWORD_ROLE = "linepress_pw"


def _bindir() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    return Path(found[-1]).parent if found else None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


@dataclass
class Cluster:
    """A running cluster: `dsn(dbname)` for a trusted superuser connection."""

    folder: Path
    socket_dir: Path
    superuser: str

    def dsn(self, dbname: str = "postgres", *, user: str | None = None, password: str = "") -> str:
        auth = user or self.superuser
        if password:
            auth += f":{password}"
        return f"postgresql://{auth}@/{dbname}?host={self.socket_dir}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        import psycopg

        with psycopg.connect(self.dsn(dbname), autocommit=True) as conn:
            cursor = conn.execute(sql)
            if cursor.description is None:
                return ""
            return "\n".join("|".join(str(v) for v in row) for row in cursor.fetchall())

    def new_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        self.psql(f"CREATE DATABASE {name}")
        self.psql(f"GRANT ALL ON DATABASE {name} TO {PASSWORD_ROLE}")
        self.psql(f"ALTER DATABASE {name} OWNER TO {PASSWORD_ROLE}")
        return name

    def terminate(self, application_name: str, dbname: str) -> int:
        """End the server sessions of one client (as a network failure would); how many."""
        out = self.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname = '{dbname}' AND application_name LIKE '{application_name}%'"
        )
        return int(out or 0)


def _as_user(user: str | None, command: list[str]) -> list[str]:
    return command if user is None else ["runuser", "-u", user, "--", *command]


@contextlib.contextmanager
def throwaway_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    """Start a cluster in a temp folder; stop and remove it on exit.

    `durable`: fsync and synchronous commits on, as a real server has them (the
    benchmark); the tests turn them off (a crash of the server is not what they test).
    Raises `RuntimeError` when it cannot start.
    """
    bindir = _bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL is not installed (/usr/lib/postgresql/*/bin)")
    user: str | None = None
    if os.geteuid() == 0:
        names = {entry.pw_name for entry in pwd.getpwall()}
        user = "postgres" if "postgres" in names else "nobody"
    folder = Path(tempfile.mkdtemp(prefix="linepress-pg-"))
    data, sock = folder / "data", folder / "s"
    sock.mkdir()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (folder, sock):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    superuser = user or pwd.getpwuid(os.geteuid()).pw_name
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True, "cwd": folder}
    try:
        subprocess.run(
            _as_user(user, [str(bindir / "initdb"), "-D", str(data), "-U", superuser,
                            "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]),
            **quiet,
        )  # fmt: skip
        hba = data / "pg_hba.conf"
        # The password role must prove its password; everyone else is trusted (local only).
        subprocess.run(
            _as_user(user, ["sh", "-c", f"printf 'local all {PASSWORD_ROLE} scram-sha-256\\n"
                                        f"local all all trust\\n' > {hba}"]),
            **quiet,
        )  # fmt: skip
        options = f"-k {sock} -c listen_addresses='' -c max_connections=100 -c shared_buffers=32MB"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        subprocess.run(
            _as_user(user, [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"),
                            "-o", options, "-w", "start"]),
            **quiet,
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        log = (folder / "log").read_text() if (folder / "log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {exc.stderr!r} {log}") from None
    cluster = Cluster(folder, sock, superuser)
    try:
        cluster.psql(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}'")
        yield cluster
    finally:
        subprocess.run(
            _as_user(user, [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder, check=False,
        )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    if _bindir() is None:
        if in_ci():
            pytest.fail("CI needs PostgreSQL (.ci/run installs Debian's postgresql package)")
        pytest.skip("PostgreSQL is not installed (/usr/lib/postgresql/*/bin)")
    try:
        with throwaway_cluster() as cluster:
            yield cluster
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def pg_database(pg_cluster: Cluster) -> str:
    """A fresh database for one test, owned by the password role."""
    return pg_cluster.new_database()
