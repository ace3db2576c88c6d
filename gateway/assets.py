"""GraphiQL's browser files, served by the gateway itself when they are installed.

Strawberry's GraphiQL page loads React and GraphiQL from unpkg.com; a
gateway on a network without internet access (common for ALPR) would show a
blank page. `python -m gateway.assets` fetches exactly the files the page
names, with npm from the npm registry, into `gateway/static/ide/` (not
committed: about 4 MB); when they are all there the page points at
`/graphql-assets/...` instead. Files are byte-identical to unpkg's, so the
page's subresource-integrity hashes still hold.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from strawberry.http.ides import get_graphql_ide_html

ASSET_DIR = Path(__file__).parent / "static" / "ide"
ASSET_PATH = "/graphql-assets"
_UNPKG = re.compile(r"https://unpkg\.com/((?:@[\w.-]+/)?[\w.-]+@[\w.-]+)/([\w./-]+)")


def referenced(html: str) -> list[tuple[str, str]]:
    """(package@version, path inside the package) of every unpkg URL in `html`."""
    return [(m[1], m[2]) for m in _UNPKG.finditer(html)]


def installed(html: str) -> bool:
    return all((ASSET_DIR / package / path).is_file() for package, path in referenced(html))


def local_ide_html(html: str) -> str:
    """`html` pointing at our own copies when every file is installed, else unchanged."""
    if not installed(html):
        return html
    return _UNPKG.sub(lambda m: f"{ASSET_PATH}/{m[1]}/{m[2]}", html)


def fetch(html: str) -> list[Path]:
    """Download the packages `html` names (npm pack) and unpack the files it uses."""
    wanted: dict[str, list[str]] = {}
    for package, path in referenced(html):
        wanted.setdefault(package, []).append(path)
    written = []
    with tempfile.TemporaryDirectory(prefix="alpr-ide-") as tmp:
        for package, paths in wanted.items():
            done = subprocess.run(
                ["npm", "pack", package, "--silent"],
                cwd=tmp,
                capture_output=True,
                text=True,
                check=True,
            )
            tarball = Path(tmp) / done.stdout.strip().splitlines()[-1]
            with tarfile.open(tarball) as archive:
                for path in paths:
                    source = archive.extractfile(f"package/{path}")
                    if source is None:
                        raise FileNotFoundError(f"{package}: no {path}")
                    target = ASSET_DIR / package / path
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with target.open("wb") as out:
                        shutil.copyfileobj(source, out)
                    written.append(target)
    return written


if __name__ == "__main__":
    for file in fetch(get_graphql_ide_html(graphql_ide="graphiql")):
        print(file.relative_to(Path.cwd()) if file.is_relative_to(Path.cwd()) else file)
    sys.exit(0)
