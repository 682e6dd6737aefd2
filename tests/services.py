"""Throwaway servers for the production-profile tests: PostgreSQL, Redis and moto's S3 on 127.0.0.1.

Each context manager starts its server on an ephemeral port with a temporary data directory and stops it
on exit. :func:`missing` says which binaries are absent so that tests can skip with a clear reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 60.0
CELERY_READY_TIMEOUT_S = 120.0
REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(ready: Callable[[], bool], what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not start within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def pg_bindir() -> Path | None:
    """The newest PostgreSQL server bin directory (Debian's /usr/lib/postgresql/N/bin, else PATH)."""

    def version(path: str) -> list[int]:
        return [int(x) for x in Path(path).parts[-3].split(".") if x.isdigit()]

    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=version)
    found = debian[-1] if debian else shutil.which("pg_ctl")
    return Path(found).parent if found and (Path(found).parent / "initdb").exists() else None


def _pg_user() -> str | None:
    """Who runs the server: PostgreSQL refuses root, so root hands it to the ``postgres`` system user."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres").pw_name
    except KeyError:
        return None


def missing(*names: str) -> list[str]:
    """Which of 'postgres', 'redis' (server binaries, usable by this user) are unavailable, with why."""
    reasons = []
    if "postgres" in names:
        if pg_bindir() is None:
            reasons.append("PostgreSQL server binaries (initdb, pg_ctl) not found (apt-get install postgresql)")
        elif os.geteuid() == 0 and _pg_user() is None:
            reasons.append("running as root and there is no 'postgres' user to run the server as")
    if "redis" in names and shutil.which("redis-server") is None:
        reasons.append("redis-server not found (apt-get install redis-server)")
    return reasons


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db: str

    def env(self) -> dict[str, str]:
        """The variables deploy/dagster.postgres.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db,
        }


def _run(cmd: list, user: str | None) -> None:
    """Run a server tool (as ``user``); its output in the error when it fails."""
    done = subprocess.run([str(c) for c in cmd], check=False, user=user, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{Path(str(cmd[0])).name} failed ({done.returncode}): {done.stdout}{done.stderr}")


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """A fresh cluster with password (scram) auth on 127.0.0.1 and an empty database ``dagster``."""
    import psycopg2

    bindir, user = pg_bindir(), _pg_user()
    assert bindir is not None, missing("postgres")
    # Outside pytest's 0700 tmp tree: the server user must be able to reach its data directory.
    home = Path(tempfile.mkdtemp(prefix="smallfish-pg-"))
    info = Postgres("127.0.0.1", free_port(), "smallfish", os.urandom(12).hex(), "dagster")
    (home / "pw").write_text(info.password)
    if user is not None:
        for path in (home, home / "pw"):
            shutil.chown(path, user)
    data, options = home / "data", f"-h {info.host} -p {info.port} -k {home} -c fsync=off"
    try:
        _run(
            [
                bindir / "initdb",
                "-D",
                data,
                "-U",
                info.user,
                "--pwfile",
                home / "pw",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user,
        )
        _run([bindir / "pg_ctl", "-D", data, "-o", options, "-l", home / "log", "-w", "start"], user)
        try:
            conn = psycopg2.connect(
                host=info.host, port=info.port, user=info.user, password=info.password, dbname="postgres"
            )
            conn.autocommit = True
            conn.cursor().execute(f"CREATE DATABASE {info.db}")
            conn.close()
            yield info
        finally:
            _run([bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], user)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis(workdir: Path) -> Iterator[str]:
    """A non-persistent redis-server; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: _redis_ping(port), "redis-server", process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(process)


def _http_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def moto_s3_or_skip(bucket: str) -> Iterator[dict[str, str]]:
    """:func:`moto_s3` for a test module's fixture: the module is skipped, saying what to install, when moto or boto3
    is missing."""
    import pytest

    for module in ("moto", "boto3"):
        pytest.importorskip(module, reason=f"{module} missing: pip install -e '.[production]'")
    with moto_s3(bucket) as aws:
        yield aws


@contextlib.contextmanager
def moto_s3(bucket: str) -> Iterator[dict[str, str]]:
    """moto's S3 server on loopback with ``bucket`` created; yields the ``AWS_*`` variables that reach it."""
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    try:
        _wait(lambda: _http_up(f"{endpoint}/moto-api/"), "moto server", process)
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=bucket)
        yield env
    finally:
        _stop(process)


@contextlib.contextmanager
def celery_worker(env: dict[str, str], name: str, processes: int, log: Path) -> Iterator[subprocess.Popen]:
    """One dagster-celery worker named ``name`` of ``processes`` processes, started as an operator would
    (``deploy/celery.yaml``) with its output in ``log``, ready to take tasks when entered; stopped with its process
    group on exit."""
    cmd = [
        shutil.which("dagster-celery", path=env["PATH"]),
        "worker",
        "start",
        "-A",
        "dagster_celery.app",
        "-y",
        str(REPO_ROOT / "deploy" / "celery.yaml"),
        "-n",
        name,
        "--",
        f"--concurrency={processes}",
    ]
    with log.open("w") as out:
        process = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + CELERY_READY_TIMEOUT_S
        while " ready." not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
