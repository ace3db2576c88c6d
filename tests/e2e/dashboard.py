"""Helpers of the dashboard's browser tests: JavaScript expressions to wait
for, typing and clicking as a user would, and where artifacts go.

Screenshots and measurements go to `ALPR_TEST_ARTIFACTS` (default
tmp/artifacts) under `dashboard/`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.e2e.cdp import Page

ARTIFACTS = (
    Path(
        os.environ.get(
            "ALPR_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "tmp" / "artifacts"
        )
    )
    / "dashboard"
)
# Form controls a screen reader could not name.
UNLABELLED = """[...document.querySelectorAll('input, select, textarea')]
  .filter((el) => !el.labels.length && !el.getAttribute('aria-label'))
  .map((el) => el.outerHTML)"""


def inner_text(selector: str) -> str:
    return f"((document.querySelector({json.dumps(selector)}) || {{}}).innerText || '')"


def row_count(selector: str = "main table tbody tr") -> str:
    return f"document.querySelectorAll({json.dumps(selector)}).length"


def all_of(*conditions: str) -> str:
    return " && ".join(f"({c})" for c in conditions)


def shows(text: str) -> str:
    return f"{inner_text('main')}.includes({json.dumps(text)})"


async def fill(page: Page, selector: str, value: str, event: str = "input") -> None:
    """Type into an input or textarea (or pick in a select, with event
    "change") as a user would: Preact listens for the event."""
    await page.evaluate(
        f"""(() => {{ const el = document.querySelector({json.dumps(selector)});
        const set = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(el), 'value').set;
        set.call(el, {json.dumps(value)});
        el.dispatchEvent(new Event({json.dumps(event)}, {{ bubbles: true }})); }})()"""
    )


async def click(page: Page, text: str) -> None:
    """Click the enabled button labelled `text`."""
    found = await page.evaluate(
        f"""(() => {{ const b = [...document.querySelectorAll('button')]
          .find((b) => b.innerText.trim() === {json.dumps(text)} && !b.disabled);
        if (b) b.click(); return !!b; }})()"""
    )
    assert found, f"no enabled button {text!r}"


def note(name: str, value: Any) -> None:
    """Keep a measurement in measurements.json among the artifacts."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "measurements.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[name] = value
    path.write_text(json.dumps(data, indent=2))
