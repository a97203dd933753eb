"""Coverage-guided fuzzing of the request path with atheris, for long runs outside CI.

Not collected by pytest (the name does not start with ``test_``) and atheris is
in no requirements file: install it by hand and run, from the repository root,

    pip install atheris
    python tests/robustness/fuzz_atheris.py -atheris_runs=200000
    python tests/robustness/fuzz_atheris.py -max_total_time=600 fuzz-corpus/

(libFuzzer options; a directory argument is a corpus it reads and grows). The
smuggling corpus (corpus.py) and a few valid requests seed it.

Each input's first byte chooses where the rest is split into reads; the pieces
then go through two paths:

1. the protocol layer, through the same minimal server loop as the property
   tests (tests/protocol/drive.py): only `ProtocolError` may come out, with a
   status that is not a server failure, and the loop must end (no hang);
2. the whole request cycle in memory (protocol, driver, application), where
   any exception escapes to the fuzzer instead of being logged: every
   response must be well-formed and none may be a 500, since the routes here
   never fail.

A crash is an exception or an assertion; atheris then writes the input to a
``crash-*`` file, which replays with ``python tests/robustness/fuzz_atheris.py
crash-<id>``.
"""

from __future__ import annotations

import logging
import random
import re
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS.parent), str(TESTS)]

import atheris  # noqa: E402

with atheris.instrument_imports(include=["webpy", "h11"]):
    from protocol.drive import serve

    from robustness.corpus import CASES, LIMITS, SMUGGLED
    from robustness.support import FUZZ_ROUTES
    from webpy.protocol import Limits
    from webpy.transports.memory import Client

SERVER_FAILURES = {500, 502, 503, 504}
STATUS_LINE = re.compile(rb"(?:^|\r\n)HTTP/1\.1 (\d{3}) ")
SEEDS = [case.data for case in CASES] + [
    SMUGGLED,
    b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + SMUGGLED,
    b"PUT /tiny HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;ext=1\r\nabc\r\n0\r\nTrailer: v\r\n\r\n",
    b"GET /refuses HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /x%0d%0a HTTP/1.0\r\n\r\n",
]

limits = Limits(**LIMITS)
client = Client(FUZZ_ROUTES, limits=limits)


def pieces_of(data: bytes) -> list[bytes]:
    """Split everything after the first byte at points the first byte seeds."""
    if not data:
        return []
    generator, rest = random.Random(data[0]), data[1:]
    largest = 1 + data[0] % 64
    pieces, position = [], 0
    while position < len(rest):
        size = generator.randint(1, largest)
        pieces.append(rest[position:position + size])
        position += size
    return pieces


def test_one_input(data: bytes) -> None:
    pieces = pieces_of(data)
    outcome = serve(pieces, limits)
    if outcome.error is not None and outcome.error in SERVER_FAILURES:
        raise AssertionError(f"protocol layer answered {outcome.error}")

    connection = client.connect()
    for piece in pieces:
        connection.send(piece)
    connection.close_write()
    while not connection.closed and connection.waiting_for is not None:
        connection.time_out()
    output = connection.receive()
    connection.close()
    if output and not output.startswith(b"HTTP/1.1 "):
        raise AssertionError(f"response does not start with a status line: {output[:40]!r}")
    statuses = {int(status) for status in STATUS_LINE.findall(output)}
    if statuses & SERVER_FAILURES:
        raise AssertionError(f"request cycle answered {sorted(statuses)}")


def main() -> None:
    logging.disable(logging.CRITICAL)  # handlers and refusals log on purpose
    arguments = list(sys.argv)
    paths = [Path(argument) for argument in arguments[1:] if not argument.startswith("-")]
    if all(path.is_dir() for path in paths):  # not replaying a crash file: add the seeds
        seeds = Path(tempfile.mkdtemp(prefix="webpy-fuzz-seeds-"))
        for number, seed in enumerate(SEEDS):
            (seeds / f"seed-{number:03d}").write_bytes(b"\x07" + seed)
        arguments.append(str(seeds))
    atheris.Setup(arguments, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
