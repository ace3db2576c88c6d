"""How the other `alpr` commands find the database of a running `alpr up`.

`alpr up` on the embedded default writes `up.json` in its data directory
(the database URL, a Unix socket inside that directory, and its pid) and
removes it when it stops. A command run without a configured database
(no ALPR_DATABASE_URL, no ALPR_DB_HOST) uses that URL while the process that
wrote it is alive, so `alpr keys create`, `alpr search`, `alpr status` just
work beside `alpr up`. The file holds no secret (the socket is reachable only
on this machine) and is still written for its owner alone.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Final

RUN_FILE: Final = "up.json"
DEFAULT_DATA_DIR: Final = Path(".alpr")


def data_dir(environ: dict[str, str] | os._Environ[str]) -> Path:
    """The data directory `alpr up` uses by default: ALPR_DATA_DIR, else ./.alpr."""
    return Path(environ.get("ALPR_DATA_DIR") or DEFAULT_DATA_DIR)


def announce(directory: Path, database_url: str) -> Path:
    """Write the run file of this process; returns its path."""
    path = directory / RUN_FILE
    partial = path.with_suffix(".tmp")
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        json.dump({"pid": os.getpid(), "database_url": database_url}, out)
    partial.replace(path)
    return path


def withdraw(path: Path) -> None:
    """Remove the run file (if it is still ours to remove)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def running_database(directory: Path) -> str | None:
    """The database URL of the `alpr up` running on `directory`, or None."""
    try:
        found = json.loads((directory / RUN_FILE).read_text())
        pid, url = int(found["pid"]), str(found["database_url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if _alive(pid) else None


def use_running_database(environ: dict[str, str] | os._Environ[str]) -> str | None:
    """Point ALPR_DATABASE_URL in `environ` at a running `alpr up`'s database when
    no database is configured; the URL used, or None (nothing changed)."""
    if environ.get("ALPR_DATABASE_URL") or environ.get("ALPR_DB_HOST"):
        return None
    url = running_database(data_dir(environ))
    if url is not None:
        environ["ALPR_DATABASE_URL"] = url
    return url
