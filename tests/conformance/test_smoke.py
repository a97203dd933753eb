from __future__ import annotations

import webpy as web
from harness import Harness, ResponseReader


class Echo(web.HTTPHandler):
    def do_get(self) -> tuple[int, str]:
        return 200, f"path={self.request.path}"

    def do_post(self) -> tuple[int, bytes]:
        return 200, self.request.body


ROUTES = {"/.*": Echo}


def test_keep_alive_serves_two_requests_on_one_connection(harness: Harness) -> None:
    with harness.serve(ROUTES) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        first = reader.read()
        connection.send(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        second = reader.read("POST")
        assert first is not None and first.body == b"path=/a"
        assert second is not None and second.body == b"abc"
        connection.close()


def test_bare_lf_is_rejected_and_connection_closed(harness: Harness) -> None:
    with harness.serve(ROUTES) as server:
        connection = server.connect()
        reader = ResponseReader(connection)
        connection.send(b"GET / HTTP/1.1\nHost: x\n\n")
        response = reader.read()
        assert response is not None and response.status == 400
        assert response.headers["connection"] == "close"
        assert reader.at_eof()
        connection.close()
