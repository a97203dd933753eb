"""A handler that records what ran, and checks shared by the robustness tests.

The servers of every harness run in this process (threads, or trio in a
thread), so a class-level list is enough to see which requests reached a
handler: the proof that nothing was smuggled is that the list stays empty.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import ClassVar

import webpy as web


class Recorder(web.HTTPHandler):
    """Records (method, path) of every request that reaches it, and answers 200."""

    seen: ClassVar[list[tuple[str, str]]] = []
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.seen = []

    def _record(self) -> tuple[int, str]:
        with self._lock:
            self.seen.append((self.request.method, self.request.path))
        return 200, "ran"

    def do_get(self) -> tuple[int, str]:
        return self._record()

    def do_post(self) -> tuple[int, str]:
        return self._record()

    def do_put(self) -> tuple[int, str]:
        return self._record()


class RefusesInPrepare(Recorder):
    """Refuses before the body is read, as an auth check would."""

    def prepare(self) -> None:
        raise web.HTTPError(401, headers={"WWW-Authenticate": 'Basic realm="test"'})


class Tiny(Recorder):
    """A resource whose body limit is 8 bytes."""

    max_body_bytes = 8


class ReadsNothing(Recorder):
    """Streams its body but answers without reading it: the body must still be skipped."""

    stream_request_body = True

    def do_put(self) -> tuple[int, str]:
        self._record()
        return 202, "body not read"


class ReflectsPath(web.HTTPHandler):
    """Puts the decoded path into a response header: what uvicorn CVE-2020-7695 abused."""

    def do_get(self) -> tuple[int, str]:
        self.response.headers["X-Path"] = self.request.path
        return 200, "reflected"


RECORDING_ROUTES: dict[str, type[web.HTTPHandler]] = {
    "/refuses": RefusesInPrepare,
    "/tiny": Tiny,
    "/reads-nothing": ReadsNothing,
    r"/reflect/[\s\S]*": ReflectsPath,
    r"/[\s\S]*": Recorder,
}

#: The routes without the one that fails on purpose: anything but a refusal here is a bug.
FUZZ_ROUTES = {pattern: handler for pattern, handler in RECORDING_ROUTES.items()
               if handler is not ReflectsPath}

#: Bytes that let a log line lie about what happened (CR, LF, escape sequences...).
UNSAFE_IN_LOGS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def unsafe_log_lines(records: list[logging.LogRecord]) -> list[str]:
    """Formatted log messages that carry raw control characters."""
    return [message for message in (record.getMessage() for record in records)
            if UNSAFE_IN_LOGS.search(message)]
