"""A small Chrome DevTools Protocol client for tests: Debian's headless
`chromium`, driven over its websocket (no browser download, no driver).

`Browser.start` launches chromium with a fresh profile and connects; `page()`
opens a tab at 1366x768 that records console errors and uncaught exceptions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1366, 768
# Named keys: (virtual key code, the text they type).
KEYS = {
    "Enter": (13, "\r"),
    "Escape": (27, ""),
    "ArrowDown": (40, ""),
    "ArrowUp": (38, ""),
    "Tab": (9, ""),
}


class CdpError(RuntimeError):
    pass


class Browser:
    """One chromium process and its DevTools websocket."""

    def __init__(self, process: asyncio.subprocess.Process, socket: ClientConnection) -> None:
        self.process = process
        self.socket = socket
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._pages: dict[str, Page] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, profile: Path) -> AsyncIterator[Browser]:
        assert CHROMIUM is not None
        profile.mkdir(parents=True, exist_ok=True)
        process = await asyncio.create_subprocess_exec(
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        browser = None
        try:
            port_file = profile / "DevToolsActivePort"
            for _ in range(300):
                if port_file.is_file() and len(port_file.read_text().splitlines()) == 2:
                    break
                await asyncio.sleep(0.1)
            port, path = port_file.read_text().splitlines()
            socket = await connect(f"ws://127.0.0.1:{port}{path}", max_size=None)
            browser = cls(process, socket)
            yield browser
        finally:
            if browser is not None:
                browser._reader.cancel()
                await browser.socket.close()
            process.kill()
            await process.wait()

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if "id" in message:
                future = self._waiting.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif (page := self._pages.get(message.get("sessionId", ""))) is not None:
                page.on_event(message["method"], message.get("params", {}))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = future
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        await self.socket.send(json.dumps(message))
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise CdpError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    async def page(self) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        self._pages[page.session] = page
        for domain in ("Page", "Runtime", "Log"):
            await page.send(f"{domain}.enable")
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )
        return page


class Page:
    """A tab: navigate, evaluate, wait for a condition, screenshot; `errors` collects
    console errors and uncaught exceptions."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session
        self.errors: list[str] = []
        self._loaded = asyncio.Event()

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        # A new document loaded, or only the #fragment changed (no load event then).
        if method in ("Page.loadEventFired", "Page.navigatedWithinDocument"):
            self._loaded.set()
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(str(details.get("exception", {}).get("description") or details))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append(" ".join(str(a.get("value", a)) for a in params.get("args", [])))
        elif (
            method == "Log.entryAdded"
            and params["entry"].get("level") == "error"
            # A refused request (401, 403) is the API answering, not a page error.
            and params["entry"].get("source") != "network"
        ):
            self.errors.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.browser.send(method, params, self.session)

    async def goto(self, url: str) -> None:
        self._loaded.clear()
        await self.send("Page.navigate", {"url": url})
        await asyncio.wait_for(self._loaded.wait(), 30)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise CdpError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """Poll `expression` until truthy; its value. TimeoutError names it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"waited {timeout}s for {expression}")
            await asyncio.sleep(0.05)

    async def press(self, key: str) -> None:
        """Press and release `key` (a character, or a name in `KEYS`) in the
        focused element, as the keyboard would."""
        code, text = KEYS[key] if key in KEYS else (ord(key.upper()), key)
        common = {"key": key, "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code}
        await self.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": text, **common})
        await self.send("Input.dispatchKeyEvent", {"type": "keyUp", **common})

    async def set_files(self, selector: str, *paths: Path) -> None:
        """Choose `paths` in the file input `selector`, as the file picker would."""
        found = await self.send(
            "Runtime.evaluate", {"expression": f"document.querySelector({json.dumps(selector)})"}
        )
        files = [str(p) for p in paths]
        await self.send(
            "DOM.setFileInputFiles", {"files": files, "objectId": found["result"]["objectId"]}
        )

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
