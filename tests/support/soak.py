"""A fault soak: steady traffic, faults at random, then an exact account.

`run_soak(config)` builds the system (`soak_rig`: one PostgreSQL, one Kafka
broker, `config.ingestors` ingestor processes in one group on a topic of
`config.partitions` partitions), produces at `config.rate` with a share of
malformed messages (`soak_traffic`), and meanwhile injects `config.faults`
faults one after another, each chosen at random (seeded) among:

  kill       SIGKILL an ingestor, start a replacement at once
  broker     stop the broker (clean shutdown) and start it again, same port and data
  postgres   stop PostgreSQL (`-m fast`, or `-m immediate`: a crash) for a few
             seconds, start it again
  rebalance  start one more ingestor, or (when there is one more) SIGTERM one

The first round takes every kind (rebalance twice: an add and a remove), so
even a short soak injects each. Traffic runs for `config.duration_s` or until
the last fault, whichever is later. Then the producer stops, the group is
brought back to its size, and the soak waits until the group has committed
every partition to its end, stops the ingestors with SIGTERM, and checks
(`soak_check`): every good read stored exactly once and nothing else, every
malformed message dead-lettered exactly once with its reason, every rollup
equal to its recomputation. `SoakReport.failures()` lists what did not hold;
`SoakReport.format()` is the printed account.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from core.migrate import migrate
from tests.integration.rollup_checks import CHECKED_TABLES
from tests.support.soak_check import (
    LettersVerdict,
    ReadsVerdict,
    Record,
    Truth,
    check_letters,
    check_reads,
    check_rollups,
    group_lag,
    letter_origin,
    read_topic,
)
from tests.support.soak_rig import Broker, Exit, Ingestors, Log, Postgres
from tests.support.soak_traffic import Sends, Traffic, kind_of

Coordinates = tuple[int, int]
FAULT_KINDS = ("kill", "broker", "postgres", "rebalance")
DLQ_PARTITIONS = 3
# The producer waits up to 180 s for its last acks, then stops.
PRODUCER_STOP_S = 300.0


@dataclass(frozen=True)
class SoakConfig:
    duration_s: float = 120.0
    rate: float = 300.0  # messages a second, malformed ones included
    malformed_share: float = 0.05
    faults: int = 100
    seed: int = 1
    ingestors: int = 2
    partitions: int = 6
    fault_gap_s: tuple[float, float] = (0.5, 4.0)  # quiet time between two faults
    postgres_down_s: tuple[float, float] = (1.0, 8.0)
    broker_down_s: tuple[float, float] = (0.0, 3.0)
    warmup_s: float = 5.0
    drain_timeout_s: float = 600.0
    ingestor_env: Mapping[str, str] = field(default_factory=dict)  # extra ALPR_* settings
    work_dir: Path | None = None  # None: a temporary dir, removed unless the soak failed
    keep_work_dir: bool = False


@dataclass
class Fault:
    number: int
    at_s: float
    kind: str  # kill, broker, postgres, add, remove
    detail: str
    took_s: float


@dataclass
class SoakReport:
    config: SoakConfig
    work_dir: Path
    faults: list[Fault]
    sends: Sends
    unsettled: int
    exits: list[Exit]
    started: int  # ingestor processes started
    phases: dict[str, float]  # seconds
    lag_left: dict[int, tuple[int, int]]  # partitions not drained: (committed, end)
    acked_not_in_topic: int
    reads: ReadsVerdict
    letters: LettersVerdict
    rollups: dict[str, list[str]]
    letter_times: dict[Coordinates, list[float]]  # repeated letters: seconds into the run
    # Missing letters found only in transactions that did not commit: origin ->
    # seconds into the run of each copy (read_uncommitted); absent: never sent.
    uncommitted_times: dict[Coordinates, list[float]] = field(default_factory=dict)

    def failures(self) -> list[str]:
        """What did not hold; empty when the soak passed."""
        r, d = self.reads, self.letters
        out = [
            f"{len(r.lost)} good reads lost" if r.lost else "",
            f"{len(r.doubled)} reads stored more than once" if r.doubled else "",
            f"{len(r.unexpected)} rows no good read accounts for" if r.unexpected else "",
            f"{len(d.missing)} malformed messages never dead-lettered" if d.missing else "",
            f"{len(d.repeated)} malformed messages dead-lettered more than once"
            if d.repeated
            else "",
            f"{len(d.unexpected)} dead letters for no malformed message" if d.unexpected else "",
            f"{len(d.wrong)} dead letters with a wrong header, key or value" if d.wrong else "",
            *(f"{table}: {len(keys)} rows differ" for table, keys in self.rollups.items()),
            f"partitions not drained: {sorted(self.lag_left)}" if self.lag_left else "",
            f"{self.acked_not_in_topic} acknowledged sends not in the topic"
            if self.acked_not_in_topic
            else "",
            *(f"{e.name} exited by itself with {e.code}" for e in self.exits if not e.asked),
            *(
                f"{e.name} exited {e.code} after SIGTERM"
                for e in self.exits
                if e.asked == "term" and e.code != 0
            ),
        ]
        return [line for line in out if line]

    def format(self) -> str:
        return "\n".join(_format(self))


class Soak:
    """One soak run; `run()` returns its report."""

    def __init__(self, config: SoakConfig, log: Log) -> None:
        self.config = config
        self.log_line = log
        self.fault_rng = random.Random(f"{config.seed}-faults")
        self.traffic_rng = random.Random(f"{config.seed}-traffic")
        self.work = config.work_dir or Path(tempfile.mkdtemp(prefix="alpr-soak-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.postgres = Postgres(self.work / "pg")
        self.broker = Broker(self.work / "kafka", random.Random())
        run_id = uuid.uuid4().hex[:8]
        self.topic = f"soak-{run_id}"
        self.dlq = f"soak-{run_id}.dlq"
        self.group = f"soak-{run_id}"
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        self.faults: list[Fault] = []
        self.phases: dict[str, float] = {}
        self.ingestors: Ingestors | None = None
        self.db_url = ""

    def log(self, text: str) -> None:
        self.log_line(f"[{self.elapsed():7.1f}s] {text}")

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    async def run(self) -> SoakReport:
        try:
            await self._start_system()
            report = await self._soak_and_check()
        finally:
            await self._tear_down()
        failed = bool(report.failures())
        if self.config.work_dir is None and not (failed or self.config.keep_work_dir):
            shutil.rmtree(self.work, ignore_errors=True)
        return report

    async def _start_system(self) -> None:
        c = self.config
        self.log(f"work dir {self.work}; seed {c.seed}")
        await self.postgres.start_fresh()
        conn = await asyncpg.connect(self.postgres.url("postgres"))
        try:
            await conn.execute("CREATE DATABASE alpr_soak")
        finally:
            await conn.close()
        self.db_url = self.postgres.url("alpr_soak")
        await migrate(self.db_url, "auto")
        await self.broker.start()
        await self._create_topics()
        self.log(f"PostgreSQL up, broker on {self.broker.bootstrap}, topic {self.topic}")
        self.ingestors = Ingestors(self._ingestor_env(), self.work, self.log)
        for _ in range(c.ingestors):
            await self.ingestors.add()
        self.phases["setup"] = self.elapsed()

    async def _create_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.broker.bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(self.topic, self.config.partitions, 1),
                    NewTopic(self.dlq, DLQ_PARTITIONS, 1),
                ]
            )
        finally:
            await admin.close()

    def _ingestor_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_")}
        env.update(
            ALPR_DATABASE_URL=self.db_url,
            ALPR_KAFKA_BOOTSTRAP_SERVERS=self.broker.bootstrap,
            ALPR_KAFKA_TOPIC=self.topic,
            ALPR_KAFKA_GROUP_ID=self.group,
            ALPR_KAFKA_AUTO_OFFSET_RESET="earliest",
            ALPR_DLQ_TOPIC=self.dlq,
            ALPR_KAFKA_ENABLED="true",
            ALPR_HTTP_ENABLED="false",
            ALPR_INGESTOR_METRICS_PORT="0",
            ALPR_STATS_INTERVAL_S="10",
            ALPR_LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.config.ingestor_env)
        return env

    async def _soak_and_check(self) -> SoakReport:
        c = self.config
        traffic = Traffic(
            self.broker.bootstrap,
            self.topic,
            c.rate,
            c.malformed_share,
            self.traffic_rng,
            self.log,
        )
        stop = asyncio.Event()
        producing = asyncio.create_task(traffic.run(stop))
        traffic_started = self.elapsed()
        self.log(f"producing {c.rate:.0f} msg/s, {c.malformed_share:.0%} malformed")
        try:
            await asyncio.sleep(c.warmup_s)
            await self._inject_faults()
            left = c.duration_s - (self.elapsed() - traffic_started)
            if left > 0:
                self.log(f"faults done; producing {left:.0f}s more")
                await asyncio.sleep(left)
        finally:
            stop.set()
            # Bounded: after a fault that failed (a broker that did not come
            # back) the producer would wait for its acks without end, and
            # the soak would hang instead of saying what failed.
            done, _ = await asyncio.wait({producing}, timeout=PRODUCER_STOP_S)
            if not done:
                self.log(f"producer not stopped in {PRODUCER_STOP_S:.0f}s: cancelled")
                producing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await producing
        self.phases["producing"] = self.elapsed() - traffic_started
        self.log(f"producer stopped: {dict(traffic.sends.sent)}")
        await self._heal()
        lag_left = await self._drain()
        assert self.ingestors is not None
        await self.ingestors.stop_all()
        self.log("ingestors stopped; checking")
        checked_from = self.elapsed()
        report = await self._check(traffic, lag_left)
        self.phases["checking"] = self.elapsed() - checked_from
        return report

    # -- faults ----------------------------------------------------------------

    async def _inject_faults(self) -> None:
        c = self.config
        first_round = ["kill", "broker", "postgres", "rebalance", "rebalance"]
        self.fault_rng.shuffle(first_round)
        for number in range(1, c.faults + 1):
            kind = (
                first_round[number - 1]
                if number <= len(first_round)
                else self.fault_rng.choice(FAULT_KINDS)
            )
            started = self.elapsed()
            name, detail = await self._inject(kind)
            fault = Fault(number, started, name, detail, self.elapsed() - started)
            self.faults.append(fault)
            self.log(f"fault {number}/{c.faults} {name}: {detail} ({fault.took_s:.1f}s)")
            await asyncio.sleep(self.fault_rng.uniform(*c.fault_gap_s))

    async def _inject(self, kind: str) -> tuple[str, str]:
        rng, c = self.fault_rng, self.config
        ingestors = self.ingestors
        assert ingestors is not None
        if kind == "kill":
            victim = rng.choice(ingestors.live)
            await ingestors.kill(victim)
            new = await ingestors.add()
            return "kill", f"kill -9 {victim.name} (pid {victim.pid}); started {new.name}"
        if kind == "broker":
            down = rng.uniform(*c.broker_down_s)
            await self.broker.stop()
            await asyncio.sleep(down)
            await self.broker.start()
            return "broker", f"broker stopped, down {down:.1f}s more, started"
        if kind == "postgres":
            mode = rng.choice(("fast", "immediate"))
            down = rng.uniform(*c.postgres_down_s)
            await self.postgres.stop(mode)
            await asyncio.sleep(down)
            await self.postgres.start(self.db_url)
            return "postgres", f"pg_ctl stop -m {mode}, down {down:.1f}s, started"
        if len(ingestors.live) <= c.ingestors:
            new = await ingestors.add()
            return "add", f"started {new.name} ({len(ingestors.live)} in the group)"
        ready = [i for i in ingestors.live if i.ready()] or [await ingestors.any_ready()]
        victim = rng.choice(ready)
        ingestors.terminate(victim)
        return "remove", f"SIGTERM {victim.name} ({len(ingestors.live)} left)"

    async def _heal(self) -> None:
        """Bring the group back to its size (everything else heals within its fault)."""
        ingestors = self.ingestors
        assert ingestors is not None
        while len(ingestors.live) > self.config.ingestors:
            ingestors.terminate(await ingestors.any_ready())
        while len(ingestors.live) < self.config.ingestors:
            await ingestors.add()
        await ingestors.settle()

    async def _drain(self) -> dict[int, tuple[int, int]]:
        """Wait until every partition is committed to its end (twice in a row); what is left."""
        started = self.elapsed()
        deadline = started + self.config.drain_timeout_s
        lag: dict[int, tuple[int, int]] = {}
        calm = 0
        last_said = started
        while self.elapsed() < deadline:
            try:
                lag = await group_lag(
                    self.broker.bootstrap, self.group, self.topic, self.config.partitions
                )
            except Exception as exc:  # the broker may still be settling: ask again
                self.log(f"lag not known yet ({type(exc).__name__}: {exc})")
                await asyncio.sleep(2)
                continue
            behind = {p: ce for p, ce in lag.items() if ce[0] != ce[1]}
            calm = 0 if behind else calm + 1
            if calm >= 2:
                self.phases["draining"] = self.elapsed() - started
                self.log(f"drained in {self.phases['draining']:.1f}s")
                return {}
            if self.elapsed() - last_said > 15:
                last_said = self.elapsed()
                total = sum(end - max(done, 0) for done, end in behind.values())
                self.log(f"draining: {total} messages behind on partitions {sorted(behind)}")
            await asyncio.sleep(2)
        self.phases["draining"] = self.elapsed() - started
        left = {p: ce for p, ce in lag.items() if ce[0] != ce[1]}
        self.log(f"NOT drained after {self.config.drain_timeout_s:.0f}s: {left}")
        return left

    # -- verdict ---------------------------------------------------------------

    async def _check(self, traffic: Traffic, lag_left: dict[int, tuple[int, int]]) -> SoakReport:
        source = await read_topic(self.broker.bootstrap, self.topic, self.config.partitions)
        # Dead letters are written in transactions: what counts is what commits.
        letters = await read_topic(
            self.broker.bootstrap, self.dlq, DLQ_PARTITIONS, isolation="read_committed"
        )
        truth = Truth.of(source)
        sends = traffic.sends
        keys = {r.key for r in truth.bad.values()}
        acked_missing = len(sends.acked_good - set(truth.good)) + len(sends.acked_bad - keys)
        pool = await asyncpg.create_pool(self.db_url, min_size=1, max_size=2)
        assert pool is not None
        try:
            reads = await check_reads(pool, truth)
            rollups = await check_rollups(pool)
        finally:
            await pool.close()
        verdict = check_letters(truth, letters, self.topic)
        sent = await self._sent_uncommitted(verdict) if verdict.missing else {}
        assert self.ingestors is not None
        return SoakReport(
            config=self.config,
            work_dir=self.work,
            faults=self.faults,
            sends=sends,
            unsettled=traffic.unsettled,
            exits=self.ingestors.exits,
            started=len(self.ingestors.exits) + len(self.ingestors.live),
            phases=self.phases,
            lag_left=lag_left,
            acked_not_in_topic=acked_missing,
            reads=reads,
            letters=verdict,
            rollups=rollups,
            letter_times={o: self._seconds(rs) for o, rs in verdict.repeated.items()},
            uncommitted_times={o: self._seconds(rs) for o, rs in sent.items()},
        )

    async def _sent_uncommitted(self, verdict: LettersVerdict) -> dict[Coordinates, list[Record]]:
        """The copies of the missing letters that were sent in transactions that
        did not commit: whether a missing letter was never sent or aborted."""
        everything = await read_topic(
            self.broker.bootstrap, self.dlq, DLQ_PARTITIONS, isolation="read_uncommitted"
        )
        missing = {origin for origin, _ in verdict.missing}
        sent: dict[Coordinates, list[Record]] = {}
        for record in everything:
            origin = letter_origin(record)
            if origin in missing:
                sent.setdefault(origin, []).append(record)
        return sent

    def _seconds(self, records: list[Record]) -> list[float]:
        return [round(r.timestamp_ms / 1000 - self.wall0, 1) for r in records]

    async def _tear_down(self) -> None:
        if self.ingestors is not None:
            for ingestor in list(self.ingestors.live):
                with contextlib.suppress(ProcessLookupError):
                    await self.ingestors.kill(ingestor)
        with contextlib.suppress(Exception):
            await self.broker.close()
        with contextlib.suppress(Exception):
            await self.postgres.close()


async def run_soak(config: SoakConfig, log: Log = print) -> SoakReport:
    """Run one soak (see the module docstring) and return its report."""
    return await Soak(config, log).run()


# -- the printed account -------------------------------------------------------


def _n(value: int) -> str:
    return f"{value:,}"


def _format(report: SoakReport) -> list[str]:
    c, s, r, d = report.config, report.sends, report.reads, report.letters
    kinds = Counter(f.kind for f in report.faults)
    pg_fast = sum("-m fast" in f.detail for f in report.faults)
    pg_immediate = sum("-m immediate" in f.detail for f in report.faults)
    asked = Counter(e.asked for e in report.exits)
    term_ok = sum(e.asked == "term" and e.code == 0 for e in report.exits)
    lines = [
        f"fault soak: seed {c.seed}, {c.ingestors} ingestors, {c.partitions} partitions, "
        f"{c.rate:.0f} msg/s, {c.malformed_share:.0%} malformed",
        "time: " + ", ".join(f"{k} {v:.0f}s" for k, v in report.phases.items()),
        f"faults injected: {len(report.faults)} (kill -9 ingestor {kinds['kill']}, "
        f"broker restart {kinds['broker']}, PostgreSQL stop/start {kinds['postgres']} "
        f"[fast {pg_fast}, immediate {pg_immediate}], "
        f"add ingestor {kinds['add']}, remove ingestor {kinds['remove']})",
        f"reads produced: {_n(s.sent['good'])} good, {_n(s.total(s.sent, False))} malformed; "
        f"acknowledged {_n(s.acked['good'])} + {_n(s.total(s.acked, False))}, "
        f"failed {_n(s.failed['good'])} + {_n(s.total(s.failed, False))}, "
        f"unsettled {report.unsettled}; slots skipped while a send stalled "
        f"{_n(s.skipped_slots)}",
        f"in the topic: {_n(r.in_topic)} good reads ({r.topic_repeats} repeated records), "
        f"{_n(d.expected)} malformed; acknowledged but absent {report.acked_not_in_topic}",
        f"stored: {_n(r.rows)} rows; lost {len(r.lost)}, doubled {len(r.doubled)} "
        f"({r.extra_rows} extra rows), unexpected {len(r.unexpected)}",
        f"dead letters: expected {_n(d.expected)}, found {_n(d.letters)}; missing "
        f"{len(d.missing)}, doubled {len(d.repeated)} ({d.extra_letters} extra letters), "
        f"unexpected {len(d.unexpected)}, wrong reason/key/value {len(d.wrong)}",
        "  by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(d.by_kind.items())),
        (
            f"rollups: all {len(CHECKED_TABLES)} tables equal their recomputation from the reads"
            if not report.rollups
            else "rollups: "
            + "; ".join(f"{t} {len(k)} rows differ" for t, k in report.rollups.items())
        ),
        f"ingestors: {report.started} started, {asked['kill']} killed, "
        f"{asked['term']} stopped with SIGTERM (exit 0: {term_ok}), "
        f"{asked['']} exited by themselves",
    ]
    lines += _details(report)
    failures = report.failures()
    lines.append("verdict: PASS" if not failures else "verdict: FAIL: " + "; ".join(failures))
    return lines


def _details(report: SoakReport) -> list[str]:
    r, d = report.reads, report.letters
    out: list[str] = []
    if r.lost:
        out.append(f"  lost (first 10): {r.lost[:10]}")
    if r.doubled:
        out.append(f"  doubled (first 10): {dict(list(r.doubled.items())[:10])}")
    if r.unexpected:
        out.append(f"  unexpected (first 10): {r.unexpected[:10]}")
    for origin, kind in d.missing[:10]:
        copies = report.uncommitted_times.get(origin)
        fate = f"sent uncommitted at {copies} s" if copies else "never sent"
        out.append(
            f"  never dead-lettered: partition {origin[0]} offset {origin[1]} ({kind}): {fate}"
        )
    for origin, records in list(d.repeated.items())[:20]:
        times = report.letter_times.get(origin, [])
        out.append(
            f"  dead-lettered {len(records)} times: partition {origin[0]} offset {origin[1]} "
            f"({kind_of(records[0].key)}), letters at {times} s; "
            f"faults just before: {_faults_before(report, times)}"
        )
    for letter in (d.unexpected + d.wrong)[:10]:
        out.append(f"  letter {letter.record.partition}/{letter.record.offset}: {letter.problems}")
    for table, keys in report.rollups.items():
        out.append(f"  {table} (first 5): {keys[:5]}")
    for e in report.exits:
        if not e.asked or (e.asked == "term" and e.code != 0):
            out.append(f"  {e.name} exit {e.code} ({e.asked or 'by itself'}); log ends:")
            out += ["    " + line for line in e.log_tail.splitlines()]
    return out


def _faults_before(report: SoakReport, times: list[float]) -> str:
    if not times:
        return "-"
    first = min(times)
    near = [f for f in report.faults if first - 30 <= f.at_s <= first]
    return ", ".join(f"#{f.number} {f.kind} at {f.at_s:.1f}s" for f in near) or "none in 30 s"
