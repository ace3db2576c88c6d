"""Browser files from npm, served by the gateway itself when they are installed.

An ALPR network often has no internet access, so no page may load a file
from a CDN. `python -m gateway.assets` (run by `make install`) fetches with
npm, from the npm registry, into `gateway/static/` (not committed):

- GraphiQL's files, exactly those Strawberry's page names on unpkg.com; when
  they are all there the page points at `/graphql-assets/...` instead. They
  are byte-identical to unpkg's, so the page's subresource-integrity hashes
  still hold.
- The dashboard's libraries and Swagger UI's (`VENDOR`, pinned versions),
  served at `/web/vendor/<name>/<file>` (gateway/web.py).
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
VENDOR_DIR = Path(__file__).parent / "static" / "vendor"

# name: (package@version, files inside the package). Pinned: an upgrade is a
# reviewed change of this table (docs/adr/0014-dashboard.md).
VENDOR: dict[str, tuple[str, tuple[str, ...]]] = {
    "preact": ("preact@10.29.8", ("dist/preact.module.js", "hooks/dist/hooks.module.js")),
    "htm": ("htm@3.1.1", ("dist/htm.module.js",)),
    "uplot": ("uplot@1.6.32", ("dist/uPlot.esm.js", "dist/uPlot.min.css")),
    "graphql-ws": ("graphql-ws@6.4.2", ("dist/client.js", "dist/common-CGW11Fyb.js")),
    "swagger-ui": ("swagger-ui-dist@5.35.0", ("swagger-ui-bundle.js", "swagger-ui.css")),
}
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


def vendor_installed(name: str) -> bool:
    """Whether every file of `VENDOR[name]` is installed."""
    _, paths = VENDOR[name]
    return all((VENDOR_DIR / name / path).is_file() for path in paths)


def _unpack(package: str, paths: list[str], target: Path, workdir: str) -> list[Path]:
    """`npm pack` `package` into `workdir` and copy `paths` of it under `target`."""
    done = subprocess.run(
        ["npm", "pack", package, "--silent"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    tarball = Path(workdir) / done.stdout.strip().splitlines()[-1]
    written = []
    with tarfile.open(tarball) as archive:
        for path in paths:
            source = archive.extractfile(f"package/{path}")
            if source is None:
                raise FileNotFoundError(f"{package}: no {path}")
            file = target / path
            file.parent.mkdir(parents=True, exist_ok=True)
            with file.open("wb") as out:
                shutil.copyfileobj(source, out)
            written.append(file)
    return written


def fetch(html: str) -> list[Path]:
    """Download the packages `html` names (npm pack) and unpack the files it uses."""
    wanted: dict[str, list[str]] = {}
    for package, path in referenced(html):
        wanted.setdefault(package, []).append(path)
    with tempfile.TemporaryDirectory(prefix="alpr-ide-") as tmp:
        return [
            file
            for package, paths in wanted.items()
            for file in _unpack(package, paths, ASSET_DIR / package, tmp)
        ]


def fetch_vendor() -> list[Path]:
    """Download and unpack the files of `VENDOR`."""
    with tempfile.TemporaryDirectory(prefix="alpr-vendor-") as tmp:
        return [
            file
            for name, (package, paths) in VENDOR.items()
            for file in _unpack(package, list(paths), VENDOR_DIR / name, tmp)
        ]


if __name__ == "__main__":
    for file in [*fetch(get_graphql_ide_html(graphql_ide="graphiql")), *fetch_vendor()]:
        print(file.relative_to(Path.cwd()) if file.is_relative_to(Path.cwd()) else file)
    sys.exit(0)
