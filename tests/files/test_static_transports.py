"""The file server over every transport (memory, threaded, trio, trio in memory).

One keep-alive connection carries a whole file, a range, several ranges, a
304, a HEAD, a PUT and the GET that reads it back: the bodies the handler
returns (`FileBody`, `StreamBody`, bytes) and a streamed upload must work the
same whichever transport sends them.
"""

from __future__ import annotations

from pathlib import Path

from harness import Harness, ResponseReader

from webpy.app import files
from webpy.transports.memory import ClientResponse

from .support import BINARY, parse_byteranges


def test_files_are_served_and_uploaded_alike_over_every_transport(harness: Harness,
                                                                  site: Path) -> None:
    with harness.serve(files.routes(site, modify=True)) as server:
        connection = server.connect()
        reader = ResponseReader(connection)

        def exchange(head: str, body: bytes = b"", method: str = "GET") -> ClientResponse:
            connection.send(head.replace("\n", "\r\n").encode() + b"Host: x\r\n\r\n" + body)
            response = reader.read(method)
            assert response is not None
            return response

        whole = exchange("GET /data.bin HTTP/1.1\n")
        assert (whole.status, whole.body) == (200, BINARY)

        single = exchange("GET /data.bin HTTP/1.1\nRange: bytes=1000-1999\n")
        assert (single.status, single.body) == (206, BINARY[1000:2000])

        several = exchange("GET /data.bin HTTP/1.1\nRange: bytes=0-9,-10\n")
        parts = parse_byteranges(several.headers["Content-Type"], several.body)
        assert [part[2] for part in parts] == [BINARY[:10], BINARY[-10:]]

        etag = whole.headers["ETag"]
        assert exchange(f"GET /data.bin HTTP/1.1\nIf-None-Match: {etag}\n").status == 304

        head = exchange("HEAD /data.bin HTTP/1.1\n", method="HEAD")
        assert (head.headers["Content-Length"], head.body) == (str(len(BINARY)), b"")

        put = exchange("PUT /new.txt HTTP/1.1\nContent-Length: 9\n", b"new bytes", "PUT")
        assert put.status == 201
        assert exchange("GET /new.txt HTTP/1.1\n").body == b"new bytes"
        assert (site / "new.txt").read_bytes() == b"new bytes"
        connection.close()
