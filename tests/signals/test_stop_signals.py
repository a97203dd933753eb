"""SIGINT and SIGTERM stop every server of a process, whichever thread started it.

Each test runs a small program in a subprocess (signal handlers belong to
the process, so the test runner's own must not be touched), waits for its
"ready" line, signals it, and asserts on what it printed and how it exited.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

REPOSITORY = str(Path(__file__).resolve().parents[2])
#: Bounds that turn a hang into a failure; never reached when things work.
TIMEOUT = 20.0

FAKE_SERVERS = """
import os, signal, sys, threading
from webpy.transports import signals

printing = threading.Lock()

def say(*words):
    with printing:  # whole lines, even from several threads at once
        print(*words, flush=True)

class Server:
    '''Stands in for a server: stop() is all the signal policy uses.'''
    def __init__(self, name):
        self.name = name
        self.stopped = threading.Event()
    def stop(self):
        say('stopped', self.name, 'in', threading.current_thread().name)
        self.stopped.set()

def in_thread(function, *arguments):
    thread = threading.Thread(target=function, args=arguments)
    thread.start()
    thread.join()
"""


def start(program: str) -> subprocess.Popen[str]:
    """Run `program` (after the fake servers' prelude); return once it prints "ready"."""
    process = subprocess.Popen(
        [sys.executable, "-c", FAKE_SERVERS + textwrap.dedent(program)], cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": REPOSITORY}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("ready"):
        process.kill()
        raise AssertionError(f"not ready: {line!r} {process.communicate()}")
    return process


def finish(process: subprocess.Popen[str], signum: int) -> tuple[int, list[str], str]:
    """Send `signum`; the exit status, the lines printed after "ready", and stderr."""
    process.send_signal(signum)
    try:
        output, errors = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, output.splitlines(), errors


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_every_registered_server_from_any_thread(signum: int) -> None:
    process = start("""
        first, second = Server('first'), Server('second')
        assert signals.register(first) == {signal.SIGINT, signal.SIGTERM}  # installed
        in_thread(signals.register, second)  # a server started in another thread
        with signals.waiting():              # as serve_forever waits
            print('ready', flush=True)
            first.stopped.wait()
            second.stopped.wait()
        print('both stopped', flush=True)
    """)
    status, lines, errors = finish(process, signum)
    assert status == 0, errors
    assert sorted(lines[:2]) == ["stopped first in webpy-stop", "stopped second in webpy-stop"]
    assert lines[2:] == ["both stopped"]


def test_ctrl_c_also_interrupts_a_main_thread_running_its_own_code() -> None:
    process = start("""
        server = Server('only')
        signals.register(server)
        try:
            print('ready', flush=True)
            threading.Event().wait()         # the program's own work, not serve_forever
        except KeyboardInterrupt:
            say('interrupted')
        server.stopped.wait()
    """)
    status, lines, errors = finish(process, signal.SIGINT)
    assert status == 0, errors
    assert sorted(lines) == ["interrupted", "stopped only in webpy-stop"]


def test_handlers_the_program_set_itself_are_left_alone() -> None:
    process = start("""
        received, note = os.pipe()  # all a handler may safely do: write a byte
        signal.signal(signal.SIGTERM, lambda signum, frame: os.write(note, b'x'))
        server = Server('only')
        reaching = signals.register(server)
        print('ready' if reaching == {signal.SIGINT} else f'reaching {reaching}', flush=True)
        os.read(received, 1)
        print('the program handled it; stopped:', server.stopped.is_set(), flush=True)
    """)
    status, lines, errors = finish(process, signal.SIGTERM)
    assert status == 0, errors
    assert lines == ["the program handled it; stopped: False"]


def test_the_last_unregister_in_the_main_thread_restores_the_defaults() -> None:
    process = start("""
        server = Server('only')
        signals.register(server)
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        signals.unregister(server)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        print('ready', flush=True)
        threading.Event().wait()
    """)
    status, lines, _ = finish(process, signal.SIGTERM)
    assert (status, lines) == (-signal.SIGTERM, [])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_after_the_last_unregister_in_another_thread_signals_act_as_before(signum: int) -> None:
    process = start("""
        server = Server('only')
        signals.register(server)
        in_thread(signals.unregister, server)  # e.g. stop() called from a worker thread
        try:
            print('ready', flush=True)
            threading.Event().wait()
        except KeyboardInterrupt:
            print('KeyboardInterrupt, as without webpy', flush=True)
    """)
    status, lines, _ = finish(process, signum)
    if signum == signal.SIGTERM:
        assert (status, lines) == (-signal.SIGTERM, [])  # the default action
    else:
        assert (status, lines) == (0, ["KeyboardInterrupt, as without webpy"])


TWO_SERVERS = """
import threading
import webpy as web

class Hello(web.HTTPHandler):
    def do_get(self):
        return 200, 'hello'

plain = web.HTTPServer(('127.0.0.1', 0), {'/': Hello})
other = web.HTTPServer(('127.0.0.1', 0), {'/': Hello})
plain.start()
print('ready', plain.url, other.url, flush=True)
other.serve_forever()
plain.stop()
print('both stopped', flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_two_real_servers_one_started_one_serving_forever_both_stop(signum: int) -> None:
    process = subprocess.Popen([sys.executable, "-c", TWO_SERVERS], cwd=REPOSITORY,
                               env={**os.environ, "PYTHONPATH": REPOSITORY},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    urls = re.findall(r"http://\S+", process.stdout.readline())
    assert len(urls) == 2
    for url in urls:
        assert httpx.get(url, timeout=TIMEOUT).text == "hello"
    process.send_signal(signum)
    try:
        output, errors = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, errors
    assert output.splitlines() == ["both stopped"]
