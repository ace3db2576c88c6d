"""A real Kafka broker for tests, via ``scripts/kafka.sh``.

``ensure_broker()`` gives the bootstrap servers of a broker to test against:

* If ``ALPR_TEST_KAFKA_BOOTSTRAP`` is set, that broker is used as is and is
  never stopped by us (CI or a developer already runs one).
* Otherwise a fresh single-node KRaft broker is started on a free loopback
  port, with its data in a new temporary directory (so every test session
  starts from an empty cluster, and parallel sessions never share state).
  ``BrokerHandle.stop()`` stops it and deletes that directory.

Typical use in a conftest::

    @pytest.fixture(scope="session")
    def kafka_bootstrap() -> Iterator[str]:
        broker = ensure_broker()
        try:
            yield broker.bootstrap_servers
        finally:
            broker.stop()
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BOOTSTRAP_ENV", "KAFKA_DIR_ENV", "BrokerHandle", "KafkaBrokerError", "ensure_broker"]

BOOTSTRAP_ENV = "ALPR_TEST_KAFKA_BOOTSTRAP"
# Set to keep the broker's state in a fixed dir instead of a fresh temp dir
# (handy to read its logs after a failed run).
KAFKA_DIR_ENV = "ALPR_TEST_KAFKA_DIR"

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO_ROOT / "scripts" / "kafka.sh"

# kafka.sh's exit code for "the port is already taken": worth another port.
_EXIT_PORT_BUSY = 3
_PORT_ATTEMPTS = 5
# A first run on a new machine includes the one-off Maven download of the
# jars; the broker itself is up in a few seconds.
_START_TIMEOUT_S = 600.0
_STOP_TIMEOUT_S = 90.0
# Below Linux's ephemeral range (32768+), so outgoing client connections
# cannot grab the port between our probe and the broker's bind.
_PORT_RANGE = (20000, 32000)


class KafkaBrokerError(RuntimeError):
    """The test broker could not be started or stopped."""


@dataclass
class BrokerHandle:
    """A broker to test against; ``stop()`` is safe to call more than once."""

    bootstrap_servers: str
    started: bool
    kafka_dir: Path | None = None
    _remove_dir: bool = field(default=False, repr=False)
    _stopped: bool = field(default=False, init=False, repr=False)

    def stop(self) -> None:
        """Stop the broker if this process started it; otherwise do nothing."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        if not self.started or self.kafka_dir is None:
            return
        _run_kafka_sh("stop", self.kafka_dir, port=None, timeout=_STOP_TIMEOUT_S)
        if self._remove_dir:
            shutil.rmtree(self.kafka_dir, ignore_errors=True)


def ensure_broker() -> BrokerHandle:
    """Return a running broker: the one named in the environment, or a new one."""
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if external:
        return BrokerHandle(bootstrap_servers=external, started=False)

    fixed_dir = os.environ.get(KAFKA_DIR_ENV, "").strip()
    if fixed_dir:
        kafka_dir = Path(fixed_dir).resolve()
        remove_dir = False
    else:
        kafka_dir = Path(tempfile.mkdtemp(prefix="alpr-kafka-test-"))
        remove_dir = True

    try:
        bootstrap = _start(kafka_dir)
    except BaseException:
        if remove_dir:
            shutil.rmtree(kafka_dir, ignore_errors=True)
        raise

    handle = BrokerHandle(
        bootstrap_servers=bootstrap,
        started=True,
        kafka_dir=kafka_dir,
        _remove_dir=remove_dir,
    )
    # If the session dies before the fixture's teardown runs (a crash, an
    # interrupted run), do not leave a JVM behind.
    atexit.register(handle.stop)
    return handle


def _start(kafka_dir: Path) -> str:
    last_error = ""
    for _ in range(_PORT_ATTEMPTS):
        port = _free_port_pair()
        proc = _run_kafka_sh("start", kafka_dir, port=port, timeout=_START_TIMEOUT_S, check=False)
        if proc.returncode == 0:
            lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
            if not lines:
                raise KafkaBrokerError("kafka.sh start printed no bootstrap address")
            # kafka.sh prints the bootstrap address as its last stdout line.
            return lines[-1]
        last_error = _describe(proc)
        if proc.returncode != _EXIT_PORT_BUSY:
            break
    raise KafkaBrokerError(f"could not start the test Kafka broker:\n{last_error}")


def _free_port_pair() -> int:
    """A port P such that P (clients) and P+1 (KRaft controller) are free."""
    for _ in range(200):
        port = random.randrange(*_PORT_RANGE)
        if _port_free(port) and _port_free(port + 1):
            return port
    raise KafkaBrokerError("no free pair of loopback ports found")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option Kafka binds with, so TIME_WAIT leftovers do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _run_kafka_sh(
    command: str,
    kafka_dir: Path,
    *,
    port: int | None,
    timeout: float,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KAFKA_DIR=str(kafka_dir))
    if port is not None:
        env["KAFKA_PORT"] = str(port)
    try:
        proc = subprocess.run(
            ["bash", str(KAFKA_SH), command],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise KafkaBrokerError(f"kafka.sh {command} timed out after {timeout:.0f}s") from exc
    if check and proc.returncode != 0:
        raise KafkaBrokerError(f"kafka.sh {command} failed:\n{_describe(proc)}")
    return proc


def _describe(proc: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit code {proc.returncode}\n--- stdout ---\n{proc.stdout}--- stderr ---\n{proc.stderr}"
    )
