"""examples/chat.py: its page, presence stream (SSE), room (WebSockets), in a real browser."""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness_trio import load_example
from websockets.sync.client import connect

from .test_websocket_servers import HANG, SERVERS


@pytest.fixture(params=sorted(SERVERS))
def chat(request: pytest.FixtureRequest) -> Iterator[str]:
    """The example's routes (a fresh room each time) served by each socket transport."""
    routes = load_example("chat")["routes"]
    with SERVERS[request.param](routes) as (host, port):
        yield f"{host}:{port}"


def presence_events(lines: Iterator[str]) -> Iterator[list[str]]:
    """The presence lists a presence stream announces, in order."""
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "presence":
            yield json.loads(line[6:])


def test_the_page_is_served_as_html_with_its_script(chat: str) -> None:
    response = httpx.get(f"http://{chat}/", timeout=HANG)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'new EventSource("/presence")' in response.text


def test_the_presence_stream_starts_with_who_is_in_the_room(chat: str) -> None:
    with httpx.Client(timeout=HANG) as client, \
            client.stream("GET", f"http://{chat}/presence") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert next(presence_events(response.iter_lines())) == []


def test_members_chat_and_the_presence_list_follows_them(chat: str) -> None:
    with httpx.Client(timeout=HANG) as client, \
            client.stream("GET", f"http://{chat}/presence") as response:
        lists = presence_events(response.iter_lines())
        assert next(lists) == []
        with connect(f"ws://{chat}/chat?name=alice", open_timeout=HANG) as alice:
            assert next(lists) == ["alice"]
            with connect(f"ws://{chat}/chat?name=bob", open_timeout=HANG) as bob:
                assert next(lists) == ["alice", "bob"]
                alice.send("hi bob")
                assert bob.recv(HANG) == "alice: hi bob"
                assert alice.recv(HANG) == "alice: hi bob"
            assert next(lists) == ["alice"]
        assert next(lists) == []


def test_a_browser_chats_over_a_websocket_and_follows_presence_over_sse(
        tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed")
    routes = load_example("chat")["routes"]
    with SERVERS["threaded"](routes) as (_, port), Browser(chromium, tmp_path) as browser:
        # The page says "hello" as robot and leaves once it came back and the presence
        # list showed robot; its DOM is read once the socket's close is shown in it.
        dom = browser.dom_when(f"http://localhost:{port}/?name=robot&say=hello",
                               "li.closed")
    assert '<li class="message">robot: hello</li>' in dom, dom[-2000:]
    assert '<p id="who">1 here: robot</p>' in dom
    assert '<li class="closed">closed 1000</li>' in dom


class Browser:
    """Headless Chromium driven over its DevTools protocol (with the websockets client)."""

    def __init__(self, chromium: str, profile: Path) -> None:
        self._process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._ids = itertools.count(1)
        assert self._process.stderr is not None
        for line in self._process.stderr:  # Chromium says where DevTools listens
            if line.startswith("DevTools listening on "):
                break
        else:
            raise RuntimeError("Chromium did not start DevTools")
        # Keep reading its log, so a full pipe never blocks it.
        threading.Thread(target=self._process.stderr.read, daemon=True).start()
        self._stack = contextlib.ExitStack()
        self._devtools = self._stack.enter_context(
            connect(line.split(" on ", 1)[1].strip(), open_timeout=HANG, max_size=None))

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()
        self._process.kill()
        self._process.wait(HANG)

    def dom_when(self, url: str, selector: str) -> str:
        """Open `url` and return its DOM once `selector` matches an element in it."""
        target = self._call("Target.createTarget", url="about:blank")["targetId"]
        session = self._call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self._call("Page.enable", session=session)
        self._call("Page.navigate", session=session, url=url)
        self._wait_for("Page.loadEventFired", session)
        # The page's own timer checks; the test only waits for the answer (or HANG).
        found = self._call("Runtime.evaluate", session=session, awaitPromise=True,
                           returnByValue=True, expression=(
                               "new Promise(resolve => { const check = () => "
                               f"document.querySelector({json.dumps(selector)}) ? "
                               "resolve(document.documentElement.outerHTML) : "
                               "setTimeout(check, 20); check(); })"))
        return str(found["result"]["value"])

    def _wait_for(self, event: str, session: str) -> None:
        while True:
            message = json.loads(self._devtools.recv(HANG))
            if message.get("method") == event and message.get("sessionId") == session:
                return

    def _call(self, method: str, session: str | None = None, **params: Any) -> Any:
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self._devtools.send(json.dumps(message))
        while True:  # events come in between; the answer carries our id
            answer = json.loads(self._devtools.recv(HANG))
            if answer.get("id") == number:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
