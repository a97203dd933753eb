"""examples/notes_api.py: anyone reads the notes, signed-in users post and delete them.

Driven twice: its routes through the memory client, and the script itself as
a process on a free port, stopped with Ctrl-C.
"""

from __future__ import annotations

import base64
import os
import runpy
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import CLIENT_TIMEOUT

from webpy.transports.memory import Client

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notes_api.py"
ALICE = {"Authorization": "Basic " + base64.b64encode(b"alice:wonderland").decode()}
BOB = {"Authorization": "Basic " + base64.b64encode(b"bob:builder").decode()}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def client() -> Client:
    """A client for a fresh copy of the example (its notes start empty)."""
    example = runpy.run_path(str(EXAMPLE))  # not as __main__: it serves nothing
    return Client(example["routes"])


def multipart(**files: Any) -> tuple[bytes, dict[str, str]]:
    encoded = httpx.Request("POST", "http://test/", data={"title": "With a file"}, files=files)
    return encoded.read(), {"Content-Type": encoded.headers["Content-Type"]}


def test_anyone_reads_an_empty_store(client: Client) -> None:
    response = client.get("/notes")
    assert (response.status, response.json()) == (200, [])
    assert response.headers["Content-Type"] == "application/json"


def test_posting_needs_a_signed_in_user(client: Client) -> None:
    refused = client.post("/notes", b"title=Hi", FORM)
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"] == 'Basic realm="notes", charset="UTF-8"'
    assert client.post("/notes", b"title=Hi", {**FORM, **ALICE}).status == 201
    assert [note["title"] for note in client.get("/notes").json()] == ["Hi"]


def test_a_posted_note_is_read_back_as_json(client: Client) -> None:
    created = client.post("/notes", b"title=Shopping&text=milk%2C+eggs", {**FORM, **ALICE})
    assert created.status == 201
    assert created.headers["Location"] == "/notes/1"
    note = {"id": 1, "title": "Shopping", "text": "milk, eggs", "author": "alice",
            "attachment": None}
    assert created.json() == note
    assert client.get("/notes/1").json() == note
    assert client.get("/notes").json() == [note]


def test_a_multipart_note_keeps_its_attachment(client: Client) -> None:
    body, headers = multipart(attachment=("photo.jpg", b"\xff\xd8jpeg bytes", "image/jpeg"))
    created = client.post("/notes", body, {**headers, **BOB})
    assert created.json()["attachment"] == {"filename": "photo.jpg",
                                            "content_type": "image/jpeg", "size": 12}
    download = client.get("/notes/1/attachment")
    assert download.body == b"\xff\xd8jpeg bytes"
    assert download.headers["Content-Type"] == "image/jpeg"
    assert download.headers["Content-Disposition"] == "attachment"
    assert client.get("/notes/2/attachment").status == 404


def test_notes_need_a_title_and_a_form(client: Client) -> None:
    assert client.post("/notes", b"title=+&text=x", {**FORM, **ALICE}).status == 400
    json_body = client.post("/notes", json={"title": "x"}, headers=ALICE)
    assert json_body.status == 415


def test_only_its_author_deletes_a_note(client: Client) -> None:
    client.post("/notes", b"title=Mine", {**FORM, **ALICE})
    assert client.delete("/notes/1").status == 401
    assert client.delete("/notes/1", BOB).status == 403
    assert client.delete("/notes/1", ALICE).status == 204
    assert client.get("/notes/1").status == 404
    assert client.delete("/notes/1", ALICE).status == 404
    assert client.get("/notes/" + "9" * 5000).status == 404


def test_example_runs_as_a_script_and_stops_cleanly_on_ctrl_c() -> None:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(EXAMPLE.parents[1]), *filter(None, [environment.get("PYTHONPATH")])])
    process = subprocess.Popen([sys.executable, str(EXAMPLE), "0"], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline().decode()  # printed once the socket is bound
        assert banner.startswith("Serving notes on http://"), process.stderr.read().decode()
        url = banner.split()[3]
        with httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT) as http:
            created = http.post("/notes", data={"title": "Over TCP"},
                                files={"attachment": ("a.txt", b"attached", "text/plain")},
                                auth=("alice", "wonderland"))
            assert created.status_code == 201
            assert http.get("/notes/1/attachment").content == b"attached"
            assert http.delete("/notes/1", auth=("bob", "builder")).status_code == 403
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=CLIENT_TIMEOUT)
        assert process.returncode == 0, errors.decode()
        assert b"Traceback" not in errors
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
