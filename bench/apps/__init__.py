"""Equivalent hello-world and upload-sink apps for every server under test.

Each app answers ``GET /`` with ``200``, ``text/plain``, ``Content-Length: 13``, ``Hello, world!``
and ``POST /upload`` by reading the body in 64 KiB pieces and answering with the byte count, so
every server does the same work per request.
"""
