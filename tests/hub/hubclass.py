#!/usr/bin/env python3
"""A class on a real JupyterHub, on this machine: students log in, pull the course, run it.

    python -m tests.hub.hubclass --students 30 --json build/hub/report.json   # make classroom-hub
    python -m tests.hub.hubclass --students 5 --arrival 20 --browser           # what make test runs

What it starts, all on 127.0.0.1 and on ports chosen free at run time:

- **configurable-http-proxy** (Node; ``make hub-proxy`` installs it into
  ``build/hub/node_modules``), started by us and not by the hub, as The Littlest
  JupyterHub runs its proxy: students' connections go on while the hub restarts.
- **JupyterHub** (the ``hub`` extra) with ``SharedPasswordAuthenticator`` (the
  dummy authenticator with one shared password, its non-deprecated name since
  JupyterHub 5.3), ``LocalProcessSpawner`` with a **real Unix user per student**
  when run as root (``SimpleLocalProcessSpawner`` with one home folder per
  student otherwise), and ``cleanup_servers = False``, as TLJH does.
- Each student's **jupyterhub-singleuser** (JupyterLab) and its kernels.

The course comes from a **local bare repository**, ``build/hub/class-*/labsock``,
holding the worktree's committed ``HEAD`` as branch ``main`` (uncommitted
changes are not in it: commit first). Each student pulls it with nbgitpuller,
the teaching guide's link, into ``~/labsock``.

The students: one *solo* student first runs every lesson on a quiet hub (the
"alone" times). Then the class arrives, at seeded random moments within
``--arrival`` seconds. Each student logs in with the shared password (the REST
API's token request), starts their server, pulls the course (nbgitpuller's
event stream, which the link's page reads), lists ``labsock/notebooks/`` and
runs every lesson there except the course map (``00_*``) and the practice
notebook, each as JupyterLab does: a session (its own kernel), every code cell
executed over the kernel's websocket **through the proxy** with the student's
token, the kernel shut down at the end. A lesson passes when every cell ran
without an error (its closing ``assert`` cells included). After each lesson one
more cell audits multicast cross-talk (a fresh fan-out plus every fan-out result
the lesson left behind must have heard no other student's datagrams).

Faults, each with its own record in the report:

- ``kill``: one student's server is killed (SIGKILL) in the middle of their first
  lesson; the student restarts it through the hub's API, pulls again and runs
  that lesson again, then carries on;
- ``twice``: one student runs a lesson twice at once (the notebook and its
  duplicate, two kernels);
- ``hub_restart``: the hub is stopped and started again while students are in
  their lessons; every server that ran before must run after, same process.

One fault at a time: the hub restarts as soon as enough students are in a
lesson and no server is starting (a spawn in flight when the hub stops is
lost), not while the killed server is coming back; a kill due while the hub
is down waits for it to be up again. The restart does not wait for the kill:
on a slow machine the class could end before the kill's recovery, and a
restart with no student left in a lesson proves nothing (seen in CI).

With ``--browser``, one more student uses a real browser (Playwright, Debian's
chromium): logs in on the hub's login page, follows the nbgitpuller link to a
lesson with plots and panels, runs it (*Run All*) and reports what the page
shows; a screenshot lands in ``artifacts/screenshots/``.

At the end every server is stopped through the hub, hub and proxy are stopped,
any process still owned by a student is killed (and reported), the users are
removed; then the report says what was left: processes, users, files of the
students outside the build folder, listening ports. ``leftovers`` must be empty.
Exit status 0 when every student passed and nothing was left.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import classroom as _classroom  # noqa: E402  (scripts/ is no package)
import students_branch as _students_branch  # noqa: E402

BUILD = ROOT / "build" / "hub"
PROXY_BIN = BUILD / "node_modules" / ".bin" / "configurable-http-proxy"
BIN = Path(sys.executable).parent
# The students' environment when they are other Unix users (scripts/hub-deps.sh):
# .venv's Python may sit where only root can enter.
USER_ENV = BUILD / "user-env"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
REPO_NAME = "labsock"  # the folder nbgitpuller pulls into (the guide's REPO)
BRANCH = "main"
MIB = 2**20

CELL_TIMEOUT = 300.0  # seconds for one cell under class load
SPAWN_TIMEOUT = float(
    os.environ.get("HUBCLASS_SPAWN_TIMEOUT", "600")
)  # seconds from "start my server" to ready, 30 arrivals on 2 cores
HUB_RETRY = 180.0  # seconds a student keeps retrying the hub (it may be restarting)
HUB_START_TIMEOUT = 120.0
SAMPLE_INTERVAL = 1.0

# The audit cell each student's kernel runs after each lesson: the classroom script's.
AUDIT = _classroom.AUDIT


# -- small helpers ---------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def summary(values: list[float]) -> dict[str, Any]:
    """Median, 95th percentile (nearest rank), max and count of ``values``."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {
        "n": len(ordered),
        "median": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "max": round(ordered[-1], 2),
    }


def missing() -> str | None:
    """Why a class on a hub cannot run here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "the hub class runs on Linux only (real Unix users, /proc)"
    if not (BIN / "jupyterhub").exists():
        return "jupyterhub is not installed (it is in the 'hub' extra, pulled in by 'test')"
    if not PROXY_BIN.exists():
        return (
            "configurable-http-proxy is not installed in build/hub/node_modules "
            "(make hub-proxy installs it with npm, where npm exists)"
        )
    if shutil.which("git") is None:
        return "git is not installed (nbgitpuller needs it)"
    if os.geteuid() == 0 and (shutil.which("useradd") is None or shutil.which("userdel") is None):
        return "useradd/userdel are missing: cannot create the students' Unix users"
    if os.geteuid() == 0 and not (USER_ENV / ".installed").exists():
        return (
            "the students' environment build/hub/user-env is missing (make hub-deps makes it "
            "from a Python every user may run; none was found?)"
        )
    return None


def student_bin() -> Path:
    """Where the students' jupyterhub-singleuser and python live."""
    return USER_ENV / "bin" if os.geteuid() == 0 else BIN


def _direct() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def sync_call(
    method: str, url: str, token: str, body: Any = None, timeout: float = 60.0
) -> tuple[int, Any]:
    """One blocking HTTP call with a token; (status, JSON body or None). For set-up and teardown."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"token {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _direct().open(request, timeout=timeout) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        return exc.code, None


# -- the students' accounts ------------------------------------------------------------------
class Accounts:
    """The students' Unix users (as root) or home folders (otherwise); removed at the end."""

    def __init__(self, prefix: str, homes: Path) -> None:
        self.prefix = prefix
        self.homes = homes
        self.real = os.geteuid() == 0
        self.names: list[str] = []

    def create(self, name: str) -> Path:
        """A new student: a Unix user whose home is in the build folder (as root)."""
        assert name.startswith(self.prefix)
        home = self.homes / name
        self.names.append(name)  # before useradd: removed even if what follows fails
        if self.real:
            subprocess.run(
                [
                    "useradd",
                    "--no-create-home",
                    "--home-dir",
                    str(home),
                    "--shell",
                    "/bin/bash",
                    "--user-group",
                    "--comment",
                    "labsock hub test student",
                    name,
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
        home.mkdir(parents=True)
        if self.real:
            entry = pwd.getpwnam(name)
            os.chown(home, entry.pw_uid, entry.pw_gid)
            home.chmod(0o700)
        return home

    def give(self, name: str, path: Path) -> None:
        """Hand ``path`` (made by us in the student's home) to the student."""
        if not self.real:
            return
        entry = pwd.getpwnam(name)
        for current in [path, *path.rglob("*")]:
            os.chown(current, entry.pw_uid, entry.pw_gid)

    def uids(self) -> dict[int, str]:
        if not self.real:
            return {}
        found = {}
        for name in self.names:
            with contextlib.suppress(KeyError):
                found[pwd.getpwnam(name).pw_uid] = name
        return found

    def remove(self) -> list[str]:
        """Remove every user made here (their groups with them); problems met, as text."""
        problems = []
        if self.real:
            for name in self.names:
                try:
                    pwd.getpwnam(name)
                except KeyError:
                    continue
                done = subprocess.run(
                    ["userdel", name], capture_output=True, text=True, timeout=60, check=False
                )
                if done.returncode != 0:
                    problems.append(f"userdel {name}: {done.stderr.strip()}")
        return problems


def users_with_prefix(prefix: str) -> list[str]:
    """Unix users (and groups) whose name starts with ``prefix``."""
    import grp

    names = {entry.pw_name for entry in pwd.getpwall() if entry.pw_name.startswith(prefix)}
    names |= {f"group {g.gr_name}" for g in grp.getgrall() if g.gr_name.startswith(prefix)}
    return sorted(names)


# -- hub and proxy -----------------------------------------------------------------------------
@dataclass
class Hub:
    """Our JupyterHub and its proxy: config, processes, addresses."""

    folder: Path
    homes: Path
    repo: Path
    names: list[str]
    password: str
    real_users: bool
    proxy_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    hub_port: int = field(default_factory=free_port)
    admin_token: str = field(default_factory=lambda: secrets.token_hex(32))
    proxy_token: str = field(default_factory=lambda: secrets.token_hex(32))
    hub: subprocess.Popen[bytes] | None = None
    proxy: subprocess.Popen[bytes] | None = None
    hub_pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The public address (the proxy), as students use it."""
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def api(self) -> str:
        """The hub's REST API, through the proxy."""
        return f"{self.url}/hub/api"

    def _env(self) -> dict[str, str]:
        # Only what the hub and proxy need: no JUPYTER_* of the caller, HOME in the build folder.
        return {
            "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(self.folder),
            "VIRTUAL_ENV": str(BIN.parent),
        }

    def write_config(self) -> Path:
        """The hub's configuration file, every value explicit."""
        spawner = (
            "jupyterhub.spawner.LocalProcessSpawner"
            if self.real_users
            else "jupyterhub.spawner.SimpleLocalProcessSpawner"
        )
        settings = {
            "JupyterHub.bind_url": f"http://127.0.0.1:{self.proxy_port}/",
            "JupyterHub.hub_bind_url": f"http://127.0.0.1:{self.hub_port}/",
            "JupyterHub.db_url": f"sqlite:///{self.folder / 'jupyterhub.sqlite'}",
            "JupyterHub.cookie_secret_file": str(self.folder / "jupyterhub_cookie_secret"),
            "JupyterHub.pid_file": str(self.folder / "jupyterhub.pid"),
            # Servers outlive a restart of the hub, as on The Littlest JupyterHub.
            "JupyterHub.cleanup_servers": False,
            "JupyterHub.authenticator_class": (
                "jupyterhub.authenticators.shared.SharedPasswordAuthenticator"
            ),
            "SharedPasswordAuthenticator.user_password": self.password,
            "Authenticator.allowed_users": set(self.names),
            "JupyterHub.spawner_class": spawner,
            "SimpleLocalProcessSpawner.home_dir_template": str(self.homes / "{username}"),
            "Spawner.cmd": [str(student_bin() / "jupyterhub-singleuser")],
            "Spawner.ip": "127.0.0.1",
            "Spawner.default_url": "/lab",
            # The course's bare repository belongs to root: git refuses a repository
            # another user owns ("dubious ownership") unless a protected config file
            # trusts it (GIT_CONFIG_COUNT is dropped on the way to upload-pack). On
            # a real hub the repository is on a git host, where this does not arise.
            "Spawner.environment": {"GIT_CONFIG_GLOBAL": str(self.folder / "gitconfig")},
            "Spawner.start_timeout": int(SPAWN_TIMEOUT),
            "Spawner.http_timeout": int(SPAWN_TIMEOUT),
            "Spawner.args": [
                "--LabApp.expose_app_in_browser=True",  # the browser student drives JupyterLab
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            # The proxy is ours: the hub only talks to its API.
            "ConfigurableHTTPProxy.should_start": False,
            "ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{self.api_port}",
            "ConfigurableHTTPProxy.auth_token": self.proxy_token,
            "JupyterHub.services": [{"name": "classroom", "api_token": self.admin_token}],
            "JupyterHub.load_roles": [
                {
                    "name": "classroom",
                    "scopes": ["admin:users", "admin:servers", "access:servers", "list:users"],
                    "services": ["classroom"],
                }
            ],
        }
        lines = [
            "# Written by tests/hub/hubclass.py for one test class; do not edit.",
            "c = get_config()  # noqa",
        ]
        for key, value in settings.items():
            lines.append(f"c.{key} = {value!r}")
        gitconfig = self.folder / "gitconfig"
        gitconfig.write_text(f"[safe]\n\tdirectory = {self.repo}\n", encoding="utf-8")
        gitconfig.chmod(0o644)
        path = self.folder / "jupyterhub_config.py"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def start_proxy(self) -> None:
        env = {**self._env(), "CONFIGPROXY_AUTH_TOKEN": self.proxy_token}
        command = [str(PROXY_BIN), "--ip", "127.0.0.1", "--port", str(self.proxy_port)]
        command += ["--api-ip", "127.0.0.1", "--api-port", str(self.api_port)]
        command += ["--default-target", f"http://127.0.0.1:{self.hub_port}"]
        command += ["--error-target", f"http://127.0.0.1:{self.hub_port}/hub/error"]
        command += ["--log-level", "warn"]
        with (self.folder / "proxy.log").open("ab") as log:
            self.proxy = subprocess.Popen(
                command, cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def start_hub(self) -> float:
        """Start the hub (again); seconds until its API answers through the proxy."""
        config = self.folder / "jupyterhub_config.py"
        started = time.monotonic()
        with (self.folder / "hub.log").open("ab") as log:
            self.hub = subprocess.Popen(
                [str(BIN / "jupyterhub"), "-f", str(config)],
                cwd=self.folder,
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.hub_pids.append(self.hub.pid)
        deadline = started + HUB_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.hub.poll() is not None:
                raise RuntimeError(f"the hub exited ({self.hub.returncode}):\n{self.log_tail()}")
            status, _ = self._probe(f"{self.api}/users", self.admin_token)
            if status == 200:
                return time.monotonic() - started
            time.sleep(0.25)
        raise RuntimeError(
            f"the hub did not answer in {HUB_START_TIMEOUT:.0f} s:\n{self.log_tail()}"
        )

    @staticmethod
    def _probe(url: str, token: str) -> tuple[int, Any]:
        try:
            return sync_call("GET", url, token, timeout=5)
        except (urllib.error.URLError, OSError):
            return 0, None

    def stop_hub(self) -> None:
        """SIGTERM (the hub leaves the servers running: cleanup_servers is False)."""
        _stop_process(self.hub, 30)

    def stop_proxy(self) -> None:
        _stop_process(self.proxy, 10)

    def log_tail(self, lines: int = 40) -> str:
        text = (self.folder / "hub.log").read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _stop_process(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# -- who is who among the processes -----------------------------------------------------------
def become_subreaper() -> bool:
    """Adopt what the hub leaves behind: servers outlive the hub, kernels a killed server.

    Orphans go to the nearest "subreaper" ancestor instead of PID 1. On a real
    host PID 1 (systemd) reaps them; in some containers PID 1 never does, and
    they would stay zombies. As subreaper we reap them (:func:`reap`), and
    ipykernel still notices that its parent changed and exits.
    """
    import ctypes

    pr_set_child_subreaper = 36
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def reap(held: set[int]) -> None:
    """Collect adopted children that have exited: servers that outlived a hub, chromium's.

    Never a child we hold a Popen for (``held``: hub, proxy) nor Node (the proxy,
    Playwright's driver): their owners wait for them.
    """
    for child in psutil.Process().children():
        try:
            if child.pid in held or child.status() != psutil.STATUS_ZOMBIE:
                continue
            if child.name() == "node":
                continue
            os.waitpid(child.pid, os.WNOHANG)
        except (psutil.Error, ChildProcessError):
            continue


class Reaper(threading.Thread):
    """Reaps adopted orphans every 0.2 s until stopped (a zombie server looks alive to the hub)."""

    def __init__(self, held: Callable[[], set[int]]) -> None:
        super().__init__(name="hub-reaper", daemon=True)
        self.held = held
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.2):
            with contextlib.suppress(Exception):
                reap(self.held())

    def stop(self) -> None:
        self.stop_event.set()
        self.join(5)
        reap(self.held())


def alive(pid: int) -> bool:
    """A process with this pid runs (a zombie does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class Census:
    """Which processes belong to which student: servers and kernels."""

    def __init__(self, accounts: Accounts, started: float) -> None:
        self.accounts = accounts
        self.started = started
        self.uids = accounts.uids()

    def owner(self, proc: psutil.Process) -> str | None:
        try:
            if self.uids:
                return self.uids.get(proc.uids().real)
            # One Unix user for all: the hub tells each server who it serves.
            if proc.uids().real != os.getuid() or proc.create_time() < self.started:
                return None
            name = proc.environ().get("JUPYTERHUB_USER", "")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None
        return name if name.startswith(self.accounts.prefix) else None

    def processes(self) -> dict[str, list[psutil.Process]]:
        found: dict[str, list[psutil.Process]] = {}
        for proc in psutil.process_iter():
            name = self.owner(proc)
            if name is not None:
                found.setdefault(name, []).append(proc)
        return found

    @staticmethod
    def is_server(proc: psutil.Process) -> bool:
        try:
            return any("jupyterhub-singleuser" in part for part in proc.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return False

    def server_of(self, name: str) -> psutil.Process | None:
        for proc in self.processes().get(name, []):
            if self.is_server(proc):
                return proc
        return None


class Sampler(threading.Thread):
    """Once a second: memory of every student's server and kernels, of hub and proxy; host load."""

    def __init__(self, census: Census, hub: Hub) -> None:
        super().__init__(name="hub-sampler", daemon=True)
        self.census = census
        self.hub = hub
        self.stop_event = threading.Event()
        self.server_peak: dict[str, int] = {}
        self.kernel_peak: dict[str, int] = {}
        self.student_peak: dict[str, int] = {}
        self.hub_peak = 0
        self.proxy_peak = 0
        self.cpu: list[float] = []
        self.load: list[float] = []
        self.used_memory: list[int] = []
        self.errors: list[str] = []

    def run(self) -> None:
        psutil.cpu_percent(interval=None)
        while not self.stop_event.wait(SAMPLE_INTERVAL):
            try:
                self.sample()
            except Exception as exc:  # reported, never fatal
                self.errors.append(repr(exc))

    def sample(self) -> None:
        self.cpu.append(psutil.cpu_percent(interval=None))
        self.load.append(os.getloadavg()[0])
        self.used_memory.append(psutil.virtual_memory().used)
        for process, attr in ((self.hub.hub, "hub_peak"), (self.hub.proxy, "proxy_peak")):
            if process is not None and process.poll() is None:
                with contextlib.suppress(psutil.Error):
                    rss = psutil.Process(process.pid).memory_info().rss
                    setattr(self, attr, max(getattr(self, attr), rss))
        for name, procs in self.census.processes().items():
            server = kernels = 0
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                if self.census.is_server(proc):
                    server += rss
                else:
                    kernels += rss
            self.server_peak[name] = max(self.server_peak.get(name, 0), server)
            self.kernel_peak[name] = max(self.kernel_peak.get(name, 0), kernels)
            self.student_peak[name] = max(self.student_peak.get(name, 0), server + kernels)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(10)


# -- a student over HTTP and websockets -------------------------------------------------------
class ServerLost(Exception):
    """The student's server went away (its websocket closed, or it stopped answering)."""


class LessonFailed(Exception):
    """A cell raised an error or timed out."""


def _decode(frame: str | bytes) -> dict[str, Any]:
    """A kernel message from a websocket frame (JSON text, or the binary form with buffers)."""
    if isinstance(frame, str):
        return json.loads(frame)  # type: ignore[no-any-return]
    count = struct.unpack("!I", frame[:4])[0]
    offsets = struct.unpack("!" + "I" * count, frame[4 : 4 + 4 * count])
    end = offsets[1] if count > 1 else len(frame)
    return json.loads(frame[offsets[0] : end])  # type: ignore[no-any-return]


class Kernel:
    """One kernel's channels over the proxy's websocket, as JupyterLab uses them."""

    def __init__(self, connection: Any, username: str) -> None:
        self.ws = connection
        self.session = uuid.uuid4().hex
        self.username = username

    def _message(self, msg_type: str, content: dict[str, Any]) -> tuple[str, str]:
        msg_id = uuid.uuid4().hex
        message = {
            "header": {
                "msg_id": msg_id,
                "msg_type": msg_type,
                "username": self.username,
                "session": self.session,
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": "shell",
            "buffers": [],
        }
        return msg_id, json.dumps(message)

    async def _read(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise asyncio.TimeoutError
        frame = await asyncio.wait_for(self.ws.read_message(), remaining)
        if frame is None:
            raise ServerLost("the kernel's websocket closed")
        return _decode(frame)

    async def wait_ready(self, timeout: float = 180.0) -> None:
        """kernel_info until the kernel answers (early requests may be lost while it starts)."""
        deadline = time.monotonic() + timeout
        while True:
            msg_id, text = self._message("kernel_info_request", {})
            await self.ws.write_message(text)
            retry_at = min(deadline, time.monotonic() + 5.0)
            try:
                while True:
                    msg = await self._read(retry_at)
                    if msg.get("parent_header", {}).get("msg_id") == msg_id and (
                        msg["header"]["msg_type"] == "kernel_info_reply"
                    ):
                        return
            except asyncio.TimeoutError:
                if time.monotonic() >= deadline:
                    raise LessonFailed(f"the kernel did not answer in {timeout:.0f} s") from None

    async def execute(self, code: str, timeout: float = CELL_TIMEOUT) -> dict[str, Any]:
        """Run ``code``; its status, error and stdout, once the kernel is idle again."""
        msg_id, text = self._message(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
        await self.ws.write_message(text)
        deadline = time.monotonic() + timeout
        reply: dict[str, Any] | None = None
        idle = False
        error: dict[str, Any] | None = None
        stdout: list[str] = []
        try:
            while reply is None or not idle:
                msg = await self._read(deadline)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue  # another cell's late output, a widget's comm message
                kind = msg["header"]["msg_type"]
                content = msg.get("content", {})
                if kind == "execute_reply":
                    reply = content
                elif kind == "status" and content.get("execution_state") == "idle":
                    idle = True
                elif kind == "error":
                    error = content
                elif kind == "stream" and content.get("name") == "stdout":
                    stdout.append(content.get("text", ""))
        except asyncio.TimeoutError:
            raise LessonFailed(f"a cell did not finish in {timeout:.0f} s") from None
        status = reply.get("status", "error")
        if status != "ok" and error is None:
            error = {"ename": reply.get("ename", status), "evalue": reply.get("evalue", "")}
        return {"status": status, "error": error, "stdout": "".join(stdout)}


@dataclass
class Plan:
    """What one student will do."""

    name: str
    role: str  # solo, student
    arrival: float = 0.0
    kill_mid_lesson: bool = False
    twice_at_once: bool = False


class Student:
    """One student: log in, start the server, pull the course, run every lesson."""

    def __init__(self, plan: Plan, run: ClassRun) -> None:
        self.plan = plan
        self.run = run
        self.name = plan.name
        self.token = ""
        self.retries = 0
        self.in_lesson = False
        self.spawning = False
        self.record: dict[str, Any] = {
            "name": plan.name,
            "role": plan.role,
            "arrival": round(plan.arrival, 1),
            "lessons": [],
            "ok": False,
        }

    # HTTP through the proxy, retried while the hub (or the route) is away.
    async def call(
        self,
        method: str,
        url: str,
        body: Any = None,
        token: str | None = None,
        retry_for: float = HUB_RETRY,
        timeout: float = 120.0,
    ) -> tuple[int, Any]:
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

        client = AsyncHTTPClient()
        headers = {"Authorization": f"token {token or self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        deadline = time.monotonic() + retry_for
        while True:
            request = HTTPRequest(
                url,
                method=method,
                headers=headers,
                body=None if body is None else json.dumps(body),
                allow_nonstandard_methods=True,
                request_timeout=timeout,
                connect_timeout=30,
            )
            try:
                response = await client.fetch(request, raise_error=False)
                code = response.code
                text = response.body
            except (HTTPClientError, OSError) as exc:
                code, text = 599, str(exc).encode()
            if code not in (502, 503, 599) or time.monotonic() > deadline:
                try:
                    return code, json.loads(text) if text else None
                except ValueError:
                    return code, text.decode(errors="replace")
            self.retries += 1
            await asyncio.sleep(1.0)

    async def login(self) -> None:
        """The shared password for a token: the REST API's login."""
        code, body = await self.call(
            "POST",
            f"{self.run.hub.api}/users/{self.name}/tokens",
            {
                "auth": {"username": self.name, "password": self.run.hub.password},
                "note": "classroom student",
                "expires_in": 7200,
            },
            token="none",
        )
        if code not in (200, 201):
            raise RuntimeError(f"login refused: {code} {body}")
        self.token = body["token"]

    async def start_server(self) -> None:
        """Ask the hub for the server until it is ready and answers through the proxy.

        As a person would, the student asks again when the request met trouble:
        a 500 from a hub stopped in the middle of the spawn, a spawn the hub no
        longer knows of, or "already running" from a hub that has not yet seen
        the server die (the kill fault). Each retry is counted in ``hub_retries``.
        """
        deadline = time.monotonic() + SPAWN_TIMEOUT
        self.spawning = True
        try:
            while True:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server was not up in {SPAWN_TIMEOUT:.0f} s")
                url = f"{self.run.hub.api}/users/{self.name}/server"
                code, body = await self.call("POST", url)
                if code in (201, 202):
                    while (state := await self.state()) == "pending":
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"not ready in {SPAWN_TIMEOUT:.0f} s")
                        await asyncio.sleep(0.5)
                elif code not in (400, 500):
                    raise RuntimeError(f"the hub did not start the server: {code} {body}")
                else:
                    state = await self.state()
                if state == "ready" and await self.answers():
                    return
                self.retries += 1
                await asyncio.sleep(1.0)
        finally:
            self.spawning = False

    async def state(self) -> str:
        """What the hub says of the server: ready, pending (spawn, check, stop) or none."""
        code, body = await self.call("GET", f"{self.run.hub.api}/users/{self.name}")
        if code != 200:
            raise RuntimeError(f"the hub did not say how the server is: {code} {body}")
        server = (body.get("servers") or {}).get("")
        if not server:
            return "none"
        return "ready" if server.get("ready") else "pending"

    async def answers(self) -> bool:
        """The server answers through the proxy (its route is there, it is alive)."""
        code, _ = await self.call("GET", f"{self.server}/api/status", retry_for=10)
        return code == 200

    @property
    def server(self) -> str:
        return f"{self.run.hub.url}/user/{self.name}"

    async def pull(self) -> float:
        """nbgitpuller's event stream, as the link's page reads it; seconds taken."""
        from tornado.httpclient import AsyncHTTPClient, HTTPRequest

        query = urllib.parse.urlencode({"repo": self.run.repo_url, "branch": BRANCH})
        events: list[dict[str, Any]] = []
        buffer = bytearray()

        def on_chunk(chunk: bytes) -> None:
            buffer.extend(chunk)
            while b"\n\n" in buffer:
                block, _, rest = bytes(buffer).partition(b"\n\n")
                buffer[:] = rest
                for line in block.decode(errors="replace").splitlines():
                    if line.startswith("data:"):
                        events.append(json.loads(line[5:]))

        started = time.monotonic()
        request = HTTPRequest(
            f"{self.server}/git-pull/api?{query}",
            headers={"Authorization": f"token {self.token}"},
            streaming_callback=on_chunk,
            request_timeout=300,
        )
        await AsyncHTTPClient().fetch(request)
        phases = [e.get("phase") for e in events]
        if "finished" not in phases:
            errors = [
                e.get("message", e.get("output", "")) for e in events if e.get("phase") == "error"
            ]
            raise RuntimeError(f"nbgitpuller did not finish: {errors or phases}")
        return time.monotonic() - started

    async def lessons(self) -> list[str]:
        """The lessons in the pulled notebooks/ folder: all but the map and the practice."""
        code, body = await self.call("GET", f"{self.server}/api/contents/{REPO_NAME}/notebooks")
        if code != 200:
            raise RuntimeError(f"cannot list the pulled notebooks: {code} {body}")
        return sorted(
            item["path"]
            for item in body["content"]
            if item["name"].endswith(".ipynb") and is_lesson(item["name"])
        )

    async def run_lesson(self, path: str) -> dict[str, Any]:
        """Open ``path`` in a session of its own, run every code cell, audit, shut down."""
        from tornado.httpclient import HTTPRequest
        from tornado.iostream import StreamClosedError
        from tornado.websocket import WebSocketClosedError, websocket_connect

        record: dict[str, Any] = {"lesson": Path(path).stem, "path": path, "ok": False}
        code, notebook = await self.call("GET", f"{self.server}/api/contents/{path}?content=1")
        if code != 200:
            raise ServerLost(f"cannot open {path}: {code}")
        cells = notebook["content"]["cells"]
        code, session = await self.call(
            "POST",
            f"{self.server}/api/sessions",
            {
                "path": path,
                "name": Path(path).name,
                "type": "notebook",
                "kernel": {"name": "python3"},
            },
        )
        if code not in (200, 201):
            raise ServerLost(f"no session for {path}: {code} {session}")
        kernel_id = session["kernel"]["id"]
        ws_url = self.server.replace("http://", "ws://", 1)
        ws_url += f"/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}"
        request = HTTPRequest(ws_url, headers={"Authorization": f"token {self.token}"})
        connection = await websocket_connect(request, max_message_size=256 * MIB)
        kernel = Kernel(connection, self.name)
        started = time.monotonic()
        executed = 0
        self.in_lesson = True
        try:
            await kernel.wait_ready()
            started = time.monotonic()
            code_cells = [c for c in cells if c["cell_type"] == "code"]
            for index, cell in enumerate(code_cells):
                if self.plan.kill_mid_lesson and index == len(code_cells) // 2:
                    self.plan.kill_mid_lesson = False  # once
                    while self.run.restarting:  # one fault at a time
                        await asyncio.sleep(0.2)
                    self.record["kill"] = self.run.kill_server(self.name, Path(path).stem, index)
                source = "".join(cell["source"])
                result = await kernel.execute(source)
                executed += 1
                expected = "raises-exception" in cell.get("metadata", {}).get("tags", [])
                if result["error"] is not None and not expected:
                    error = result["error"]
                    raise LessonFailed(
                        f"code cell {index}: {error.get('ename')}: {str(error.get('evalue'))[:500]}"
                    )
            record["seconds"] = round(time.monotonic() - started, 2)
            audit = await kernel.execute(AUDIT, timeout=120)
            if audit["error"] is not None:
                raise LessonFailed(f"the audit cell failed: {audit['error']}")
            record["audit"] = json.loads(audit["stdout"].strip().splitlines()[-1])
            record["ok"] = True
        except LessonFailed as exc:
            record["error"] = str(exc)
        except (WebSocketClosedError, StreamClosedError) as exc:
            raise ServerLost(f"{type(exc).__name__}: {exc}") from exc
        finally:
            self.in_lesson = False
            record["cells_run"] = executed
            connection.close()
        # Close and shut down the notebook, as a student should.
        await self.call("DELETE", f"{self.server}/api/sessions/{session['id']}", retry_for=30)
        return record

    async def run_with_restart(self, path: str) -> dict[str, Any]:
        """A lesson; if the server dies under it, restart from the hub and run it again."""
        try:
            return await self.run_lesson(path)
        except (ServerLost, OSError, RuntimeError) as exc:
            lost = time.monotonic()
            kill = self.record.setdefault("kill", {})
            kill["noticed"] = f"{type(exc).__name__}: {exc}"[:300]
            await self.start_server()
            kill["restart_seconds"] = round(time.monotonic() - lost, 2)
            await self.pull()  # the link again: the course is still there, nbgitpuller merges
            record = await self.run_lesson(path)
            record["attempt"] = 2
            kill["recovered"] = record["ok"]
            return record

    async def twice(self, path: str) -> dict[str, Any]:
        """The lesson and its duplicate (File > Duplicate), two kernels, at the same time."""
        folder = str(Path(path).parent)
        code, copy = await self.call(
            "POST", f"{self.server}/api/contents/{folder}", {"copy_from": path}
        )
        if code != 201:
            return {"ok": False, "error": f"could not duplicate {path}: {code} {copy}"}
        runs = await asyncio.gather(self.run_lesson(path), self.run_lesson(copy["path"]))
        return {"ok": all(r["ok"] for r in runs), "lesson": Path(path).stem, "runs": runs}

    async def attend(self) -> dict[str, Any]:
        record = self.record
        await asyncio.sleep(self.plan.arrival)
        try:
            began = time.monotonic()
            record["start"] = round(began - self.run.clock, 2)
            await self.login()
            record["login_s"] = round(time.monotonic() - began, 2)
            await self.start_server()
            record["ready_s"] = round(time.monotonic() - began, 2)  # login to server ready
            record["pull_s"] = round(await self.pull(), 2)
            paths = await self.lessons()
            record["found"] = [Path(p).stem for p in paths]
            # The teacher's folder (solutions, nbgrader source) did not come with the course.
            code, _ = await self.call("GET", f"{self.server}/api/contents/{REPO_NAME}/teacher")
            record["teacher_folder"] = code
            for path in paths:
                record["lessons"].append(await self.run_with_restart(path))
            if self.plan.twice_at_once and paths:
                record["twice"] = await self.twice(pick_twice(paths))
            lessons_ok = bool(paths) and all(r["ok"] for r in record["lessons"])
            record["ok"] = lessons_ok and record.get("twice", {"ok": True})["ok"]
        except Exception as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"[-2000:]
        record["end"] = round(time.monotonic() - self.run.clock, 2)
        record["hub_retries"] = self.retries
        return record


def is_lesson(name: str) -> bool:
    """A lesson the class runs: not the course map (00_*), not the practice notebook."""
    return not name.startswith("00_") and "practice" not in name


def pick_twice(paths: list[str]) -> str:
    """The lesson to run twice at once: multicast (where two runs could collide), else the first."""
    return next((p for p in paths if "multicast" in p), paths[0])


# -- the browser student ---------------------------------------------------------------------
def browser_lesson() -> str | None:
    """A lesson with plots and panels, from the committed notebooks (what the students pull)."""
    listing = subprocess.run(
        ["git", "ls-tree", "--name-only", "HEAD", "notebooks/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    names = sorted(
        Path(p).name for p in listing if p.endswith(".ipynb") and is_lesson(Path(p).name)
    )
    for name in names:
        source = subprocess.run(
            ["git", "show", f"HEAD:notebooks/{name}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        if "plots." in source and "widgets." in source:
            return name
    return names[0] if names else None


def browser_student(run: ClassRun, name: str, lesson: str, profile: Path) -> dict[str, Any]:
    """Log in on the hub's page, follow the nbgitpuller link, Run All, look at the page."""
    from playwright.sync_api import sync_playwright

    from tests.browser import labdriver as lab

    record: dict[str, Any] = {"name": name, "lesson": lesson, "ok": False}
    path = f"{REPO_NAME}/notebooks/{lesson}"
    link = "/hub/user-redirect/git-pull?" + urllib.parse.urlencode(
        {"repo": run.repo_url, "branch": BRANCH, "urlpath": f"lab/tree/{path}"}
    )
    record["link"] = link
    began = time.monotonic()
    record["start"] = round(began - run.clock, 2)
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=run.chromium,
                headless=True,
                args=lab.CHROMIUM_ARGS,
                viewport=lab.VIEWPORT,
            )
            try:
                # Under a class's load the hub may take long to answer the login form.
                context.set_default_timeout(SPAWN_TIMEOUT * 1000)
                context.set_default_navigation_timeout(SPAWN_TIMEOUT * 1000)
                page = context.new_page()
                page.goto(f"{run.hub.url}/hub/login?next={urllib.parse.quote(link)}")
                page.fill("#username_input", name)
                page.fill("#password_input", run.hub.password)
                run.browser_spawning = True  # no hub restart until the lab is open
                page.click("#login_submit")
                # The hub spawns the server, nbgitpuller pulls, JupyterLab opens the lesson:
                # several pages one after another, so poll rather than wait in one.
                visited: list[str] = []
                record["pages"] = visited
                record["reloads"] = 0
                deadline = time.monotonic() + SPAWN_TIMEOUT
                since = time.monotonic()
                while True:
                    where = page.url.split("?")[0].replace(run.hub.url, "")
                    if not visited or visited[-1] != where:
                        visited.append(where)
                        since = time.monotonic()
                    elif "/spawn-pending/" in where and time.monotonic() - since > 90:
                        # "Your server is starting up" for long: a person reloads the page
                        # (its progress stream does not survive a restart of the hub).
                        page.reload()
                        record["reloads"] += 1
                        since = time.monotonic()
                    with contextlib.suppress(Exception):  # a page that is navigating away
                        if page.evaluate(lab._JS_OPENED, path):
                            break
                    if time.monotonic() > deadline:
                        shot = SCREENSHOTS / "hub-browser-stuck.png"
                        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                        shot.write_bytes(page.screenshot(full_page=True))
                        text = page.inner_text("body")[:1500]
                        raise RuntimeError(
                            f"JupyterLab did not open {path}; stuck at {where}: {text}"
                        )
                    page.wait_for_timeout(500)
                record["lab_open_s"] = round(time.monotonic() - began, 2)
                run.browser_spawning = False
                page.evaluate(lab._JS_READY, path)
                ran = time.monotonic()
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                deadline = time.monotonic() + 2 * CELL_TIMEOUT
                idle_since: float | None = None
                while time.monotonic() < deadline:
                    progress = page.evaluate(lab._JS_PROGRESS, path)
                    if all(count is not None for count in progress["counts"]):
                        break
                    if progress["status"] == "idle":
                        idle_since = idle_since or time.monotonic()
                        if time.monotonic() - idle_since > 10.0:
                            break  # stopped at an error: the outputs say which
                    else:
                        idle_since = None
                    page.wait_for_timeout(500)
                record["run_all_s"] = round(time.monotonic() - ran, 2)
                cells = page.evaluate(lab._JS_OUTPUTS, path)
                notebook = lab.NotebookRun(lesson, page, 0.0, cells, {})
                figures = notebook.count_outputs("image/png")
                widgets = notebook.count_outputs("application/vnd.jupyter.widget-view+json")
                render_deadline = time.monotonic() + 60
                while True:
                    rendered = page.evaluate(lab._JS_RENDERED, path)
                    if rendered["outputImages"] >= figures or time.monotonic() > render_deadline:
                        break
                    page.wait_for_timeout(500)
                buttons = page.locator(".jupyter-widgets .widget-button").count()
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                shot = SCREENSHOTS / f"hub-{Path(lesson).stem}.png"
                if buttons:  # the first panel in view, as the student scrolls to it
                    first = page.locator(".jupyter-widgets .widget-button").first
                    first.scroll_into_view_if_needed()
                    page.wait_for_timeout(500)
                shot.write_bytes(page.screenshot())
                record.update(
                    unexecuted=notebook.unexecuted,
                    errors=notebook.error_outputs(),
                    figures_sent=figures,
                    figures_shown=rendered["outputImages"],
                    widget_outputs=widgets,
                    widgets_shown=rendered["widgetOutputs"],
                    widget_errors=rendered["widgetErrors"],
                    buttons=buttons,
                    screenshot=str(shot.relative_to(ROOT)),
                    url=page.url.split("?")[0],
                )
                record["ok"] = (
                    not notebook.unexecuted
                    and not record["errors"]
                    and figures > 0
                    and rendered["outputImages"] >= figures
                    and widgets > 0
                    and rendered["widgetErrors"] == 0
                    and buttons > 0
                )
                page.close()
            finally:
                context.close()
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"[-2000:]
    run.browser_spawning = False
    record["end"] = round(time.monotonic() - run.clock, 2)
    return record


# -- the class -------------------------------------------------------------------------------
class ClassRun:
    """Everything one class needs, and the report it writes."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = secrets.token_hex(3)
        self.prefix = f"{args.prefix}{self.run_id}"
        self.folder = BUILD / f"class-{self.run_id}"
        self.homes = self.folder / "homes"
        self.accounts = Accounts(self.prefix, self.homes)
        self.password = secrets.token_urlsafe(12)
        self.clock = time.monotonic()
        self.started_wall = time.time()
        self.repo_url = ""
        self.commit = ""
        self.chromium: str | None = None
        self.hub: Hub
        self.census: Census
        self.kills: list[dict[str, Any]] = []
        self.restarting = False  # the hub is being restarted (the kill fault waits)
        self.watched_kernels: list[int] = []
        self.browser_spawning = False

    # set-up --------------------------------------------------------------------------------
    def prepare(self) -> None:
        for old in BUILD.glob("class-*"):  # earlier runs' folders, unless that run still runs
            with contextlib.suppress(OSError, ValueError):
                if alive(int((old / "runner.pid").read_text())):
                    continue
            shutil.rmtree(old, ignore_errors=True)
        self.homes.mkdir(parents=True)
        (self.folder / "runner.pid").write_text(str(os.getpid()))
        self.folder.chmod(0o755)
        self.homes.chmod(0o755)
        # Named like the GitHub repository it stands for (no ".git"): nbgitpuller
        # pulls into a folder named after the URL's last part, the guide's REPO.
        bare = self.bare = self.folder / REPO_NAME
        git = ["git", "-c", "init.defaultBranch=main"]
        subprocess.run([*git, "init", "--quiet", "--bare", str(bare)], check=True, timeout=60)
        # What a teacher publishes for a graded class: the course without teacher/
        # (scripts/students_branch.py), so no student can open the solutions.
        self.students_commit = _students_branch.students_commit("HEAD")
        subprocess.run(
            ["git", "push", "--quiet", str(bare), f"{self.students_commit}:refs/heads/{BRANCH}"],
            cwd=ROOT,
            check=True,
            timeout=120,
            capture_output=True,
        )
        subprocess.run(
            ["git", "symbolic-ref", "HEAD", f"refs/heads/{BRANCH}"],
            cwd=bare,
            check=True,
            timeout=30,
        )
        self.commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        self.repo_url = f"file://{bare}"

    def plans(self) -> list[Plan]:
        rng = random.Random(self.args.seed)
        names = [f"{self.prefix}-s{i:02d}" for i in range(self.args.students)]
        arrivals = sorted(rng.uniform(0, self.args.arrival) for _ in names)
        plans = [Plan(n, "student", a) for n, a in zip(names, arrivals, strict=False)]
        if self.args.faults and len(plans) >= 3:
            plans[1].kill_mid_lesson = True
            plans[2].twice_at_once = True
        return plans

    def kill_server(self, name: str, lesson: str, cell: int) -> dict[str, Any]:
        """The fault: SIGKILL the student's server, as the out-of-memory killer would."""
        server = self.census.server_of(name)
        if server is None:
            return {"lesson": lesson, "cell": cell, "error": "no server process found"}
        kernels = [p.pid for p in server.children(recursive=True)]
        server.kill()
        self.watched_kernels.extend(kernels)
        record = {"lesson": lesson, "cell": cell, "server_pid": server.pid, "kernels": kernels}
        self.kills.append(record)
        return record

    # the hub restart, while students are in their lessons ---------------------------------------
    async def restart_hub_when_busy(self, students: list[Student]) -> dict[str, Any]:
        want = max(2, len(students) // 3)
        waited = time.monotonic()
        deadline = waited + self.args.arrival + 240

        def waiting() -> bool:
            # One fault at a time: not while a killed server is coming back (a
            # kill that fires later waits for the hub, see run_lesson).
            recovering = any(
                "kill" in s.record
                and "restart_seconds" not in s.record["kill"]
                and "end" not in s.record
                for s in students
            )
            # A spawn in flight when the hub stops is lost, and its server process
            # orphaned (seen on JupyterHub 6.1 with LocalProcessSpawner): restart
            # between spawns, as a teacher would between arrivals.
            spawning = any(s.spawning for s in students) or self.browser_spawning
            return recovering or spawning or sum(s.in_lesson for s in students) < want

        while waiting() and time.monotonic() < deadline:
            if all("end" in s.record for s in students):
                return {"ok": False, "error": "the class ended before the restart"}
            await asyncio.sleep(0.5)
        # No await between the wait and this flag: a kill cannot slip in between.
        self.restarting = True
        try:
            return await self._restart_hub(students, waited_s=time.monotonic() - waited)
        finally:
            self.restarting = False

    async def _restart_hub(self, students: list[Student], waited_s: float) -> dict[str, Any]:
        in_lesson = [s.name for s in students if s.in_lesson]
        spawning = [s.name for s in students if s.spawning]
        before = {n: p.pid for n in self.accounts.names if (p := self.census.server_of(n))}
        before = {n: pid for n, pid in before.items() if alive(pid)}
        began = time.monotonic()
        await asyncio.to_thread(self.hub.stop_hub)
        down = time.monotonic() - began
        up = await asyncio.to_thread(self.hub.start_hub)
        alive_after = {n: pid for n, pid in before.items() if alive(pid)}
        _, users = await asyncio.to_thread(
            sync_call, "GET", f"{self.hub.api}/users?limit=500", self.hub.admin_token
        )
        ready = {
            u["name"] for u in users or [] if (u.get("servers") or {}).get("", {}).get("ready")
        }
        answering = {}
        for name in alive_after:
            status, _ = await asyncio.to_thread(
                sync_call, "GET", f"{self.hub.url}/user/{name}/api/status", self.hub.admin_token
            )
            answering[name] = status
        record = {
            "at": round(began - self.clock, 2),
            "waited_s": round(waited_s, 2),
            "students_in_lesson": len(in_lesson),
            "spawns_in_flight": len(spawning),
            "servers_before": len(before),
            "servers_alive_after": len(alive_after),
            "hub_ready_again": sorted(ready & set(before)) == sorted(before),
            "answering_through_proxy": sum(code == 200 for code in answering.values()),
            "stop_seconds": round(down, 2),
            "start_seconds": round(up, 2),
        }
        record["ok"] = (
            len(before) > 0
            and len(alive_after) == len(before)
            and record["hub_ready_again"]
            and record["answering_through_proxy"] == len(before)
        )
        return record

    # the whole class ------------------------------------------------------------------------
    async def lessons(self) -> dict[str, Any]:
        from tornado.httpclient import AsyncHTTPClient

        AsyncHTTPClient.configure(None, max_clients=4 * self.args.students + 16)
        solo = Student(Plan(f"{self.prefix}-solo", "solo"), self)
        self.solo_record = await solo.attend()
        self.class_clock = time.monotonic()
        plans = self.plans()
        students = [Student(p, self) for p in plans]
        browser_task = None
        if self.args.browser and self.chromium and self.browser_lesson:
            profile = self.folder / "chromium-profile"
            profile.mkdir()
            start_at = self.args.arrival / 2
            browser_task = asyncio.ensure_future(
                self._later(
                    start_at,
                    asyncio.to_thread(
                        browser_student, self, self.browser_name, self.browser_lesson, profile
                    ),
                )
            )
        restart = (
            asyncio.ensure_future(self.restart_hub_when_busy(students))
            if self.args.faults
            else None
        )
        records = await asyncio.gather(*(s.attend() for s in students))
        result: dict[str, Any] = {"students": list(records)}
        if restart is not None:
            result["hub_restart"] = await restart
        if browser_task is not None:
            result["browser"] = await browser_task
        return result

    @staticmethod
    async def _later(delay: float, awaitable: Any) -> Any:
        await asyncio.sleep(delay)
        return await awaitable

    def execute(self) -> dict[str, Any]:
        """Set up, run the class, tear down; the report."""
        report: dict[str, Any] = {
            "machine": machine(),
            "students": self.args.students,
            "arrival_window_s": self.args.arrival,
            "mode": "unix-users" if self.accounts.real else "one-user",
        }
        sampler = None
        outcome: dict[str, Any] = {}
        report["subreaper"] = become_subreaper()
        reaper = Reaper(self._held)
        reaper.start()
        try:
            self.prepare()
            report["commit"] = self.commit
            report["repo"] = (
                "a bare repository holding the committed HEAD without teacher/ "
                "(scripts/students_branch.py), pulled with nbgitpuller"
            )
            names = [f"{self.prefix}-solo"] + [p.name for p in self.plans()]
            self.browser_lesson = browser_lesson() if self.args.browser else None
            self.browser_name = f"{self.prefix}-web"
            if self.args.browser:
                from tests.browser.labdriver import find_chromium

                try:
                    import playwright  # noqa: F401

                    self.chromium = find_chromium()
                except ImportError:
                    self.chromium = None
                if self.chromium is None:
                    report["browser_skipped"] = "playwright or chromium is missing"
                else:
                    names.append(self.browser_name)
            for name in names:
                home = self.accounts.create(name)
                if name == self.browser_name:
                    self._lab_settings(name, home)
            self.census = Census(self.accounts, time.time() - 1)
            self.hub = Hub(
                self.folder / "hub", self.homes, self.bare, names, self.password, self.accounts.real
            )
            self.hub.folder.mkdir()
            self.hub.write_config()
            self.hub.start_proxy()
            report["hub_first_start_s"] = round(self.hub.start_hub(), 2)
            sampler = Sampler(self.census, self.hub)
            sampler.start()
            began = time.monotonic()
            outcome = asyncio.run(asyncio.wait_for(self.lessons(), self.args.timeout))
            self.class_seconds = round(time.monotonic() - began, 1)
            report["class_seconds"] = self.class_seconds
        except BaseException as exc:  # the report says it; teardown runs regardless
            report["error"] = f"{type(exc).__name__}: {exc}"[-3000:]
            if isinstance(exc, KeyboardInterrupt):
                report["error"] = "interrupted (SIGTERM or Ctrl-C)"
        finally:
            if sampler is not None:
                sampler.stop()
            report["teardown"] = self.teardown()
            reaper.stop()
        report.update(self.figures(outcome, sampler))
        return report

    def _held(self) -> set[int]:
        hub = getattr(self, "hub", None)
        if hub is None:
            return set()
        return {*hub.hub_pids, *([hub.proxy.pid] if hub.proxy else [])}

    def _lab_settings(self, name: str, home: Path) -> None:
        from tests.browser.labdriver import LAB_SETTINGS

        base = home / ".jupyter"
        for settings_name, values in LAB_SETTINGS.items():
            target = base / "lab" / "user-settings" / settings_name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values), encoding="utf-8")
        self.accounts.give(name, base)

    # teardown: nothing the hub started survives ---------------------------------------------
    def teardown(self) -> dict[str, Any]:
        done: dict[str, Any] = {}
        hub = getattr(self, "hub", None)
        census = getattr(self, "census", None)
        if hub is not None and hub.hub is not None and hub.hub.poll() is None:
            from concurrent.futures import ThreadPoolExecutor

            def stop(name: str) -> int:
                try:
                    url = f"{hub.api}/users/{name}/server"
                    return sync_call("DELETE", url, hub.admin_token, timeout=60)[0]
                except (OSError, urllib.error.URLError):
                    return 0

            with ThreadPoolExecutor(max_workers=16) as pool:
                names = self.accounts.names
                codes = dict(zip(names, pool.map(stop, names), strict=True))
            stopping = [name for name, code in codes.items() if code == 202]
            deadline = time.monotonic() + 60
            while stopping and time.monotonic() < deadline and census is not None:
                stopping = [n for n in stopping if census.server_of(n) is not None]
                time.sleep(0.5)
            done["servers_still_stopping"] = stopping
        if hub is not None:
            hub.stop_hub()
            hub.stop_proxy()
        self.orphans_at_teardown = frozenset(p for p in self.watched_kernels if alive(p))
        # Whatever a student still runs (a kernel orphaned by the killed server, say): by pid.
        killed = []
        if census is not None:
            for _ in range(3):
                found = [p for procs in census.processes().values() for p in procs]
                if not found:
                    break
                for proc in found:
                    with contextlib.suppress(psutil.Error):
                        killed.append(" ".join(proc.cmdline())[:200])
                        proc.kill()
                psutil.wait_procs(found, timeout=10)
        done["killed_at_teardown"] = killed
        uids = self.accounts.uids()
        done["files_outside_build"] = files_of(uids, self.accounts.prefix, BUILD)
        done["userdel_problems"] = self.accounts.remove()
        shutil.rmtree(self.homes, ignore_errors=True)
        done["leftovers"] = leftovers(self, census, hub, uids)
        return done

    # figures ------------------------------------------------------------------------------
    def figures(self, outcome: dict[str, Any], sampler: Sampler | None) -> dict[str, Any]:
        students = outcome.get("students", [])
        solo = self.solo_record
        out: dict[str, Any] = {
            "passed": sum(bool(s["ok"]) for s in students),
            "total": self.args.students,
            "solo": solo,
            "lessons": sorted({r["lesson"] for s in students for r in s["lessons"]}),
            "login_to_ready_s": summary([s["ready_s"] for s in students if "ready_s" in s]),
            "pull_s": summary([s["pull_s"] for s in students if "pull_s" in s]),
        }
        alone = {r["lesson"]: r.get("seconds") for r in solo.get("lessons", [])}
        per_lesson = {}
        for lesson in out["lessons"]:
            times = [
                r["seconds"]
                for s in students
                for r in s["lessons"]
                if r["lesson"] == lesson and r["ok"] and r.get("attempt", 1) == 1
            ]
            per_lesson[lesson] = {"under_load": summary(times), "alone": alone.get(lesson)}
        out["run_all_s"] = per_lesson
        cross = [
            (s["name"], r["lesson"], name, talk)
            for s in students
            for r in s["lessons"]
            if r.get("audit")
            for name, talk in r["audit"]["cross_talk"].items()
            if any(talk)
        ]
        out["cross_talk"] = [list(c) for c in cross]
        audited = [r["audit"] for s in students for r in s["lessons"] if r.get("audit")]
        groups = [tuple(a["probe_group"]) for a in audited]
        out["audit_groups_distinct"] = len(set(groups)) == len(groups)
        out["kernel_rss_mib"] = summary([a["kernel_rss"] / MIB for a in audited])
        faults: dict[str, Any] = {}
        killed = [s for s in students if "kill" in s]
        if killed:
            kill = dict(killed[0]["kill"])
            kill["student_ok"] = killed[0]["ok"]
            kill["orphan_kernels_alive_at_teardown"] = [
                pid for pid in self.watched_kernels if pid in self.orphans_at_teardown
            ]
            kill["ok"] = bool(kill.get("recovered")) and killed[0]["ok"]
            faults["kill"] = kill
        twice = [s for s in students if "twice" in s]
        if twice:
            faults["twice"] = {
                "ok": twice[0]["twice"]["ok"],
                "lesson": twice[0]["twice"].get("lesson"),
                "seconds": [r.get("seconds") for r in twice[0]["twice"].get("runs", [])],
                "errors": [r.get("error") for r in twice[0]["twice"].get("runs", []) if not r["ok"]]
                or twice[0]["twice"].get("error"),
            }
        if "hub_restart" in outcome:
            faults["hub_restart"] = outcome["hub_restart"]
        out["faults"] = faults
        if "browser" in outcome:
            out["browser"] = outcome["browser"]
        if sampler is not None:
            out["memory_mib"] = {
                "server_peak": summary([v / MIB for v in sampler.server_peak.values()]),
                "kernels_peak": summary([v / MIB for v in sampler.kernel_peak.values()]),
                "student_peak": summary([v / MIB for v in sampler.student_peak.values()]),
                "hub_peak": round(sampler.hub_peak / MIB, 1),
                "proxy_peak": round(sampler.proxy_peak / MIB, 1),
                "host_used_peak": round(max(sampler.used_memory, default=0) / MIB, 1),
            }
            cores = os.cpu_count() or 1
            busy = statistics.mean(sampler.cpu) if sampler.cpu else 0.0
            seconds = self.class_seconds or len(sampler.cpu) * SAMPLE_INTERVAL
            out["host"] = {
                "cores": cores,
                "cpu_percent_mean": round(busy, 1),
                "cpu_percent_p95": summary(sampler.cpu).get("p95"),
                "load1_peak": round(max(sampler.load, default=0.0), 2),
                "samples": len(sampler.cpu),
                # CPU time the run used, spread over the students (hub and browser included).
                "cpu_seconds_per_student": round(
                    busy / 100 * cores * seconds / max(1, self.args.students + 1), 1
                ),
                "sampler_errors": sampler.errors[:5],
            }
        out["students_detail"] = students
        return out

    orphans_at_teardown: frozenset[int] = frozenset()
    class_seconds: float | None = None
    solo_record: dict[str, Any] = {}  # noqa: RUF012 (replaced, never mutated)


def files_of(uids: dict[int, str], prefix: str, build: Path) -> list[str]:
    """Files the students own outside the build folder (shared temporary folders, mail).

    The build folder itself (with the students' homes) is left out of the walk:
    a checkout can live under /tmp (CI clones there), and what is inside it is
    removed by the teardown and checked as ``homes``.
    """
    found = []
    inside = str(build.resolve())
    for top in ("/tmp", "/var/tmp", "/dev/shm"):
        for dirpath, dirnames, filenames in os.walk(top):
            if dirpath == inside or dirpath.startswith(inside + os.sep):
                dirnames[:] = []
                continue
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) != inside]
            for entry in dirnames + filenames:
                path = os.path.join(dirpath, entry)
                with contextlib.suppress(OSError):
                    if os.lstat(path).st_uid in uids:
                        found.append(path)
    found += [str(p) for p in Path("/var/mail").glob(f"{prefix}*")]
    return sorted(found)[:50]


def leftovers(
    run: ClassRun, census: Census | None, hub: Hub | None, uids: dict[int, str]
) -> dict[str, Any]:
    """What survived the teardown: must be nothing at all."""
    left: dict[str, Any] = {}
    procs = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if uids and proc.uids().real in uids:
                procs.append(f"{proc.pid} {' '.join(proc.cmdline())[:150]}")
            elif hub is not None and proc.pid in (
                *hub.hub_pids,
                hub.proxy.pid if hub.proxy else -1,
            ):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    procs.append(f"{proc.pid} {' '.join(proc.cmdline())[:150]}")
            elif any(str(run.folder) in part for part in proc.cmdline()):
                procs.append(f"{proc.pid} {' '.join(proc.cmdline())[:150]}")
    if census is not None and not uids:
        procs += [f"{p.pid}" for ps in census.processes().values() for p in ps]
    if procs:
        left["processes"] = procs
    users = users_with_prefix(run.accounts.prefix)
    if users:
        left["users"] = users
    if hub is not None:
        listening = []
        for port in (hub.proxy_port, hub.api_port, hub.hub_port):
            with socket.socket() as probe:
                probe.settimeout(1)
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    listening.append(port)
        if listening:
            left["listening_ports"] = listening
    if run.homes.exists():
        left["homes"] = str(run.homes)
    return left


def machine() -> dict[str, Any]:
    """What this report was measured on."""
    from importlib.metadata import version

    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "jupyterhub": version("jupyterhub"),
        "jupyterlab": version("jupyterlab"),
        "nbgitpuller": version("nbgitpuller"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument(
        "--arrival", type=float, default=60.0, help="seconds over which they arrive"
    )
    parser.add_argument("--browser", action="store_true", help="one more student in chromium")
    parser.add_argument("--no-faults", dest="faults", action="store_false")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for the whole class")
    parser.add_argument("--prefix", default="lsk", help="start of every user name this run makes")
    parser.add_argument("--json", type=Path, help="write the report here (else stdout)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z][a-z0-9]{1,8}", args.prefix):
        parser.error("--prefix: 2 to 9 lowercase letters and digits")
    reason = missing()
    if reason:
        print(json.dumps({"skipped": reason}))
        return 3

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    run = ClassRun(args)
    report = run.execute()
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    ok = (
        report["passed"] == report["total"]
        and not report.get("error")
        and not report["teardown"]["leftovers"]
        and all(fault.get("ok") for fault in report["faults"].values())
        and report.get("browser", {"ok": True})["ok"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
