"""A throwaway PostgreSQL server for the tests, from the system's binaries (initdb, pg_ctl).

The cluster lives in a temporary folder and listens only on a Unix socket there, so it never
meets another server; it is stopped and deleted at the end of the session. PostgreSQL refuses
to run as root, so under root it runs as the `postgres` user. Without the binaries the tests
skip and say why, except in CI (`CI` set), where they must run (`.ci/run` installs them).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class PgServer:
    socket_dir: Path
    user: str = "postgres"

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@/{db}?host={self.socket_dir}"

    def create_database(self) -> str:
        """A fresh, empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host=str(self.socket_dir), dbname="postgres", user=self.user,
                             autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PgUnavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


@contextmanager
def throwaway_cluster():
    """A PostgreSQL cluster in a temporary folder, listening only on a socket there; deleted after."""
    bin_dir = _binaries()
    if bin_dir is None:
        raise PgUnavailable("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): "
                            "apt-get install postgresql")
    run_as: list[str] = []
    owner = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PgUnavailable("running as root and there is no 'postgres' user to run the server as") from None
        run_as = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="sketchlab-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, log = root / "data", root / "server.log"
    env = {**os.environ, "LC_ALL": "C"}

    def run(*cmd):
        subprocess.run([*run_as, *map(str, cmd)], check=True, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=120)

    try:
        run(bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        # Unix socket only, in our own folder; no fsync: the data is thrown away anyway.
        options = f"-k {root} -c listen_addresses='' -c fsync=off -c max_connections=100"
        run(bin_dir / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start")
    except subprocess.CalledProcessError as exc:
        text = log.read_text() if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}{text}") from exc
    try:
        yield PgServer(root)
    finally:
        try:
            run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    try:
        with throwaway_cluster() as server:
            yield server
    except PgUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc}; in CI the PostgreSQL tests must run (.ci/run installs postgresql)")
        pytest.skip(str(exc))


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of a fresh database on the session's server."""
    return pg_server.create_database()
