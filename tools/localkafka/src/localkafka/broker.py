"""Start, stop and inspect single-node KRaft brokers running as plain Java processes."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from localkafka._lock import file_lock
from localkafka.config import (
    ADMIN_USER,
    HOST,
    NODE_ID,
    log4j2_properties,
    random_cluster_id,
    secured_properties,
    write_server_properties,
)
from localkafka.fetch import fetch
from localkafka.paths import kafka_home, run_dir, runs_dir, validate_name
from localkafka.tls import generate_broker_tls
from localkafka.topics import broker_ids, run_sync

log = logging.getLogger(__name__)

JAVA_OPTS_ENV = "LOCALKAFKA_JAVA_OPTS"
_BIND_FAILURE_MARKERS = ("Address already in use", "BindException")
_MAX_BIND_ATTEMPTS = 3


class StartError(RuntimeError):
    pass


@dataclass(frozen=True)
class BrokerStatus:
    name: str
    running: bool
    pid: int | None
    bootstrap: str | None
    data_dir: Path


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Bind as the JVM's listener does: TIME_WAIT sockets left by a stopped broker's own connections must
        # not make its saved port look taken (a restarted named broker has to come back on the same port).
        # A port somebody is listening on still refuses the bind.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _tcp_connects(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise StartError("java is not on PATH (Kafka 4.x needs Java 17+); set JAVA_HOME or install a JDK")
    return found


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _cmdline(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when this thread dies, so a crashed or
    SIGKILLed test session does not leave a broker behind."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        # PR_SET_PDEATHSIG fires when the *thread* that forked exits, which would kill the broker
        # as soon as a worker thread finishes.
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    # Resolve before forking: dlopen in the child of a threaded parent is not safe.
    prctl = ctypes.CDLL(libc_name, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        pr_set_pdeathsig = 1
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent already died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _tail(path: Path, lines: int = 40) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(content[-lines:])


class LocalKafka:
    """A single-node Apache Kafka (KRaft, broker+controller) on 127.0.0.1.

    Data lives in <LOCALKAFKA_HOME>/run/<name>/ and survives stop/start unless `fresh` is set.
    Brokers with different names are independent and may run at the same time.
    """

    def __init__(
        self,
        name: str = "dev",
        port: int | None = None,
        *,
        controller_port: int | None = None,
        home: Path | None = None,
        heap: str = "512m",
        fresh: bool = False,
        remove_on_stop: bool = False,
        tie_to_parent: bool = False,
        start_timeout: float = 90.0,
        extra_properties: Mapping[str, str] | None = None,
        secured: bool = False,
        users: Iterable[str] = (),
    ) -> None:
        self.name = validate_name(name)
        self.requested_port = port
        self.requested_controller_port = controller_port
        self.home = home or kafka_home()
        self.heap = heap
        self.fresh = fresh
        self.remove_on_stop = remove_on_stop
        self.tie_to_parent = tie_to_parent
        self.start_timeout = start_timeout
        self.extra_properties = dict(extra_properties or {})
        self.secured = secured
        """SASL_SSL only (SCRAM-SHA-512), StandardAuthorizer, no ACL means no access; see the README."""
        self.users = [user for user in dict.fromkeys(users) if user != ADMIN_USER]
        """SCRAM-SHA-512 users created when the storage is formatted, each with a random password."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_here = False

    # -- files -----------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return run_dir(self.name, self.home)

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "kraft-logs"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def console_file(self) -> Path:
        return self.data_dir / "console.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "state.json"

    @property
    def ca_file(self) -> Path:
        """The throw-away CA of a secured broker: what clients trust (``ssl.ca.location``, KAFKA_SSL_CA_FILE)."""
        return self.data_dir / "tls" / "ca.pem"

    @property
    def credentials_file(self) -> Path:
        """{user: password} of a secured broker's SCRAM users, admin included (mode 0600)."""
        return self.data_dir / "credentials.json"

    def credentials(self) -> dict[str, str]:
        try:
            data = json.loads(self.credentials_file.read_text())
        except (OSError, ValueError):
            return {}
        return {str(user): str(password) for user, password in data.items()} if isinstance(data, dict) else {}

    def client_config(self, user: str = ADMIN_USER) -> dict[str, Any]:
        """aiokafka's security arguments for `user` on this broker ({} for a plain one)."""
        if not self.secured:
            return {}
        password = self.credentials().get(user)
        if password is None:
            raise KeyError(f"broker {self.name!r} has no SCRAM user {user!r}")
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": user,
            "sasl_plain_password": password,
            "ssl_context": context,
        }

    def _prepare_security(self, formatted: bool, port: int, cport: int) -> dict[str, str]:
        """The secured listener's files (CA, broker key, passwords: new for a new storage) and properties."""
        credentials = self.credentials() if formatted else {}
        if ADMIN_USER not in credentials:
            credentials = {user: secrets.token_urlsafe(24) for user in [ADMIN_USER, *self.users]}
            fd = os.open(self.credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as file:
                json.dump(credentials, file, indent=2)
        keystore = self.data_dir / "tls" / "broker-keystore.pem"
        if not formatted or not keystore.is_file() or not self.ca_file.is_file():
            generate_broker_tls(self.data_dir / "tls")
        return secured_properties(
            port=port,
            controller_port=cport,
            host=HOST,
            ca_file=self.ca_file,
            keystore_file=keystore,
            admin_password=credentials[ADMIN_USER],
        )

    def _lock_file(self) -> Path:
        return runs_dir(self.home) / ".locks" / f"{self.name}.lock"

    def _load_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_state(self, **values: Any) -> None:
        state = self._load_state()
        state.update(values)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        tmp.replace(self.state_file)

    # -- inspection ------------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str | None:
        port = self._load_state().get("port")
        return f"{HOST}:{port}" if port else None

    @property
    def pid(self) -> int | None:
        pid = _read_pid(self.pid_file)
        return pid if pid is not None and self._is_our_broker(pid) else None

    def _is_our_broker(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        if not _pid_alive(pid):
            return False
        cmdline = _cmdline(pid)
        if cmdline is None:  # no /proc (macOS): trust the pid file
            return True
        # Pids get reused; only signal a process that really is this broker.
        return b"kafka.Kafka" in cmdline and str(self.properties_file).encode() in cmdline

    def is_running(self) -> bool:
        return self.pid is not None

    def status(self) -> BrokerStatus:
        pid = self.pid
        return BrokerStatus(self.name, pid is not None, pid, self.bootstrap, self.data_dir)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> str:
        """Start the broker (or reuse it if this name already runs) and return its bootstrap address
        once it answers metadata requests."""
        libs = fetch(self.home)
        with file_lock(self._lock_file()):
            if self.is_running():
                if self.fresh:
                    raise StartError(f"broker {self.name!r} is already running; stop it before a fresh start")
                bootstrap = self.bootstrap
                assert bootstrap is not None
                self._wait_ready(bootstrap, self.start_timeout)
                log.info("broker %s already running at %s", self.name, bootstrap)
                return bootstrap
            if self.fresh:
                shutil.rmtree(self.data_dir, ignore_errors=True)
            for attempt in range(1, _MAX_BIND_ATTEMPTS + 1):
                try:
                    return self._start_once(libs)
                except _PortTakenError as exc:
                    if attempt == _MAX_BIND_ATTEMPTS:
                        raise StartError(str(exc)) from exc
                    log.warning("%s; retrying with other ports", exc)
            raise AssertionError("unreachable")

    def _choose_ports(self, formatted: bool) -> tuple[int, int, bool]:
        """Returns (port, controller_port, chosen_automatically)."""
        for label, value in (("port", self.requested_port), ("controller port", self.requested_controller_port)):
            if value is not None and not port_is_free(value):
                raise StartError(f"{label} {value} on {HOST} is already in use")
        saved = self._load_state() if formatted else {}
        # Reusing the previous ports keeps a restarted dev broker at the same address. If one is taken
        # meanwhile, a new one is fine: the single voter elects itself whatever its endpoint was.
        saved_port, saved_cport = saved.get("port"), saved.get("controller_port")
        port = self.requested_port or (saved_port if saved_port and port_is_free(saved_port) else None)
        cport = self.requested_controller_port or (saved_cport if saved_cport and port_is_free(saved_cport) else None)
        auto = self.requested_port is None and self.requested_controller_port is None
        port = port if port is not None else free_port()
        cport = cport if cport is not None else free_port()
        while cport == port:
            cport = free_port()
        return int(port), int(cport), auto

    def _start_once(self, libs: Path) -> str:
        formatted = (self.log_dir / "meta.properties").is_file()
        port, cport, auto_ports = self._choose_ports(formatted)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        security = self._prepare_security(formatted, port, cport) if self.secured else {}
        write_server_properties(
            self.properties_file,
            port=port,
            controller_port=cport,
            log_dir=self.log_dir,
            extra={**security, **self.extra_properties},
        )
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(log4j2_properties(self.log_file))
        java = _java()
        classpath = f"{libs}{os.sep}*"
        base = [
            java,
            f"-Dlog4j2.configurationFile={log4j}",
            # Otherwise log4j stops in its own shutdown hook and the end of Kafka's shutdown goes unlogged.
            "-Dlog4j2.shutdownHookEnabled=false",
            "-Djava.awt.headless=true",
        ]
        if not formatted:
            cluster_id = random_cluster_id()
            self._format([*base, "-Xmx256m", "-cp", classpath], cluster_id)
        else:
            cluster_id = str(self._load_state().get("cluster_id", ""))
        cmd = [
            *base,
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            *shlex.split(os.environ.get(JAVA_OPTS_ENV, "")),
            "-cp",
            classpath,
            "kafka.Kafka",
            str(self.properties_file),
        ]
        bootstrap = f"{HOST}:{port}"
        self._save_state(
            name=self.name,
            port=port,
            controller_port=cport,
            bootstrap=bootstrap,
            cluster_id=cluster_id,
            secured=self.secured,
        )
        started = time.monotonic()
        with open(self.console_file, "ab") as console:
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                # Own session: Ctrl-C in the terminal goes to us, and we stop the broker cleanly.
                start_new_session=True,
                preexec_fn=_parent_death_signal() if self.tie_to_parent else None,
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        self._started_here = True
        try:
            self._wait_ready(bootstrap, self.start_timeout)
        except StartError as exc:
            self._kill_quietly()
            logs = _tail(self.log_file) + "\n" + _tail(self.console_file)
            if auto_ports and any(marker in logs for marker in _BIND_FAILURE_MARKERS):
                # Another process grabbed a port between our probe and the JVM's bind.
                if not formatted:
                    shutil.rmtree(self.log_dir, ignore_errors=True)
                self._save_state(port=None, controller_port=None)
                raise _PortTakenError(f"port race while starting {self.name!r}") from exc
            raise StartError(f"{exc}\n--- last broker log lines ({self.data_dir}) ---\n{logs.strip()}") from exc
        log.info("broker %s ready at %s after %.1fs", self.name, bootstrap, time.monotonic() - started)
        return bootstrap

    def _format(self, java_prefix: list[str], cluster_id: str) -> None:
        cmd = [
            *java_prefix,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(self.properties_file),
        ]
        if self.secured:
            # SCRAM credentials go into the bootstrap metadata: the users exist before the first client connects.
            for user, password in self.credentials().items():
                cmd += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]"]
        result = subprocess.run(cmd, cwd=self.data_dir, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StartError(
                f"formatting storage failed (exit {result.returncode}):\n{(result.stdout + result.stderr)[-4000:]}"
            )

    def _wait_ready(self, bootstrap: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        host, _, port = bootstrap.rpartition(":")
        last_error: BaseException | None = None
        while True:
            if not self.is_running():
                raise StartError(f"broker {self.name!r} exited during startup")
            if _tcp_connects(host, int(port)):
                try:
                    if NODE_ID in run_sync(broker_ids(bootstrap, client_config=self.client_config())):
                        return
                    last_error = None
                except Exception as exc:  # not ready yet: connection reset, timeouts, fenced broker
                    last_error = exc
            if time.monotonic() >= deadline:
                detail = f" (last error: {last_error!r})" if last_error else ""
                raise StartError(f"broker {self.name!r} not ready at {bootstrap} after {timeout:.0f}s{detail}")
            time.sleep(0.2)

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the broker, SIGKILL it after `timeout` seconds. Returns whether it was running."""
        pid = self.pid
        was_running = pid is not None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not self._wait_exit(pid, timeout):
                log.warning("broker %s (pid %d) ignored SIGTERM for %.0fs; killing it", self.name, pid, timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self._wait_exit(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)
        self._proc = None
        self._started_here = False
        if self.remove_on_stop:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self._lock_file().unlink(missing_ok=True)
        return was_running

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout
        while _pid_alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def _kill_quietly(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self.pid_file.unlink(missing_ok=True)

    def wait(self) -> int:
        """Block until the broker process exits (only for a broker started by this object)."""
        if self._proc is None:
            raise RuntimeError("wait() needs a broker started by this LocalKafka instance")
        return self._proc.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Only tear down what this block started; a reused, already running broker stays up.
        if self._started_here:
            self.stop()


class _PortTakenError(Exception):
    pass


def list_brokers(home: Path | None = None) -> list[BrokerStatus]:
    root = runs_dir(home)
    if not root.is_dir():
        return []
    result = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and not entry.name.startswith("."):
            try:
                validate_name(entry.name)
            except ValueError:
                continue
            result.append(LocalKafka(entry.name, home=home).status())
    return result
