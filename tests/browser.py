"""A headless Chromium driven over the DevTools protocol, for the viewer's browser tests.

Why this and not a library: Playwright's and pyppeteer's Python packages download a browser
build of their own at run time, which this project's machines cannot do, and Selenium needs
a driver binary beside the browser. Debian's ``chromium`` alone speaks the DevTools protocol
over a pipe (``--remote-debugging-pipe``: JSON messages ending with a NUL byte, read on fd 3
and written on fd 4), which takes no port, no WebSocket and no third-party package: the few
commands a test needs (open a page, evaluate a script, take a screenshot) fit in this module.

    with Chromium() as browser:
        browser.open("http://127.0.0.1:8765/")
        assert browser.evaluate("document.title") == "..."
        png = browser.screenshot()

Chromium is started with everything that would reach the network by itself turned off
(updates, sync, metrics...): the pages it opens are the sandbox's, on the loopback interface.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import itertools
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

#: Names Chromium's binary has, Debian's first.
BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Seconds a command or a page load may take before the test fails (a hung browser must not hang the suite).
TIMEOUT = 60.0


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) binary, or None."""
    for name in BINARIES:
        if found := shutil.which(name):
            return found
    return None


class BrowserError(RuntimeError):
    """The browser answered an error, exited, or did not answer in time."""


class Chromium:
    """One headless browser with one page, ``width`` x ``height`` CSS pixels."""

    def __init__(self, binary: str | None = None, *, width: int = 1280, height: int = 860) -> None:
        binary = binary or find_chromium()
        if binary is None:
            raise BrowserError(f"No Chromium found (looked for {', '.join(BINARIES)})")
        self.width, self.height = width, height
        self._profile = Path(tempfile.mkdtemp(prefix="arkworker-chromium-"))
        self._log = (self._profile / "chromium.log").open("wb")
        to_browser, self._to_browser = _pipe()
        self._from_browser, from_browser = _pipe()
        arguments = [
            binary,
            "--headless",
            "--no-sandbox",  # as root, and in containers without user namespaces
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile}",
            f"--window-size={width},{height}",
            "--force-device-scale-factor=1",
            "--hide-scrollbars",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-domain-reliability",
            "--metrics-recording-only",
            "--no-pings",
            "about:blank",
        ]
        # bash puts the pipe's ends on the descriptors Chromium reads and writes (Python can
        # only pass descriptors under their own numbers); ours are above 9, so never 3 or 4.
        self._process = subprocess.Popen(
            [
                "bash",
                "-c",
                f'exec "$@" 3<&{to_browser} 4>&{from_browser} {to_browser}<&- {from_browser}>&-',
                "bash",
                *arguments,
            ],
            pass_fds=(to_browser, from_browser),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        try:
            target = self._command("Target.createTarget", {"url": "about:blank"})["targetId"]
            self._session = self._command("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            self.command("Page.enable")
            self.command(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what tests use ---------------------------------------------------------------------------

    def open(self, url: str) -> None:
        """Load ``url`` and wait for its ``load`` event (images included)."""
        self._events = [event for event in self._events if event.get("method") != "Page.loadEventFired"]
        answer = self.command("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise BrowserError(f"Cannot open {url}: {answer['errorText']}")
        self._wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable values)."""
        answer = self.command("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in answer:
            raise BrowserError(f"The script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def screenshot(self) -> bytes:
        """A PNG of the viewport."""
        return base64.b64decode(self.command("Page.captureScreenshot", {"format": "png"})["data"])

    def close(self) -> None:
        """Close the browser (killed if it does not exit), and remove its profile."""
        if self._process.poll() is None:
            try:
                self._send({"id": next(self._ids), "method": "Browser.close"})
                self._process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        for end in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):  # closed already
                os.close(end)
        self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)

    # -- the protocol ------------------------------------------------------------------------------

    def command(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a command to the page's session and return its result."""
        return self._command(method, params, self._session)

    def _command(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._send(message)
        deadline = time.monotonic() + TIMEOUT
        while True:
            for index, received in enumerate(self._events):
                if received.get("id") == number:
                    del self._events[index]
                    if "error" in received:
                        raise BrowserError(f"{method} failed: {received['error']}")
                    return received["result"]
            self._receive(deadline, method)

    def _wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            for index, received in enumerate(self._events):
                if received.get("method") == method:
                    del self._events[index]
                    return received
            self._receive(deadline, method)

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._to_browser, data) :]

    def _receive(self, deadline: float, waiting_for: str) -> None:
        """Read what the browser sent until at least one more message is whole."""
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            readable, _, _ = select.select([self._from_browser], [], [], max(0.0, left))
            if not readable:
                raise BrowserError(
                    f"Chromium did not answer {waiting_for} within {TIMEOUT:g} s{self._tail()}"
                )
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited while waiting for {waiting_for}{self._tail()}")
            self._buffer += chunk
        *messages, self._buffer = self._buffer.split(b"\0")
        self._events.extend(json.loads(message) for message in messages)

    def _tail(self) -> str:
        self._log.flush()
        lines = (self._profile / "chromium.log").read_text(errors="replace").splitlines()
        return (": " + " | ".join(lines[-5:])) if lines else ""


def _pipe() -> tuple[int, int]:
    """A pipe whose two ends are descriptors above 9, closed on exec unless passed on."""
    ends = []
    for end in os.pipe():
        ends.append(fcntl.fcntl(end, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(end)
    return ends[0], ends[1]
