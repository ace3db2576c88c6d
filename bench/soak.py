"""Fault soak: steady traffic while faults are injected at random, then an exact account.

A real PostgreSQL (embedded), a real Kafka broker (scripts/kafka.sh) and
several `python -m ingestor` processes in one consumer group. While a
producer sends plate reads at a steady rate, a share of them malformed, a
driver injects faults one after another, chosen at random from a seed:
SIGKILL of an ingestor (and a replacement), a broker restart, PostgreSQL
stopped (fast or immediate) and started, an ingestor added or removed
(SIGTERM). Then it waits until the group has committed everything and checks
that every good read is stored exactly once and nothing else, every
malformed message is dead-lettered exactly once with its reason, and every
rollup equals its recomputation from the reads (tests/support/soak.py).

    .venv/bin/python bench/soak.py --faults 10 --duration 60              # a quick look
    .venv/bin/python bench/soak.py --faults 100 --rate 300 --seed 7       # the full soak

Exit code 0 when everything held, 1 otherwise (the work dir with every
process's log is then kept and named).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.soak import SoakConfig, run_soak


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=120.0,
        help="seconds of traffic at least; it runs on until the last fault (default 120)",
    )
    parser.add_argument("--rate", type=float, default=300.0, help="messages a second (300)")
    parser.add_argument(
        "--malformed", type=float, default=0.05, help="share of malformed messages (0.05)"
    )
    parser.add_argument("--faults", type=int, default=100, help="faults to inject (100)")
    parser.add_argument("--seed", type=int, default=None, help="fault and traffic seed (random)")
    parser.add_argument("--ingestors", type=int, default=2, help="ingestor processes (2)")
    parser.add_argument("--partitions", type=int, default=6, help="topic partitions (6)")
    parser.add_argument(
        "--gap",
        type=float,
        nargs=2,
        default=(0.5, 4.0),
        metavar=("MIN", "MAX"),
        help="seconds between two faults, uniform (0.5 4)",
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="where state and logs go (kept)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # The producer's client reports every refused connection while the broker
    # is down on purpose; the soak says what matters itself.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    config = SoakConfig(
        duration_s=args.duration,
        rate=args.rate,
        malformed_share=args.malformed,
        faults=args.faults,
        seed=seed,
        ingestors=args.ingestors,
        partitions=args.partitions,
        fault_gap_s=tuple(args.gap),
        work_dir=args.work_dir,
    )
    print(f"$ bench/soak.py {' '.join(sys.argv[1:])}  (seed {seed})", flush=True)
    report = asyncio.run(run_soak(config, log=lambda line: print(line, flush=True)))
    print()
    print(report.format())
    if report.failures():
        print(f"logs kept in {report.work_dir}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
