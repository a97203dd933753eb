"""A notes store: anyone may read, only signed-in users may write.

Notes are posted as HTML forms (urlencoded, or multipart with an optional
attachment) and read back as JSON. Run it and try it with curl::

    python examples/notes_api.py            # serves on http://localhost:8080/
    curl -u alice:wonderland -F title=Hello -F text='First note' \\
         -F attachment=@photo.jpg http://localhost:8080/notes
    curl http://localhost:8080/notes
    curl http://localhost:8080/notes/1/attachment -o photo.jpg
    curl -u alice:wonderland -X DELETE http://localhost:8080/notes/1

An optional argument picks another port (0: any free one). Basic credentials
travel in clear text: outside localhost, serve over TLS (`certfile=`).
"""

from __future__ import annotations

import itertools
import sys
import threading
from typing import Any, ClassVar

import webpy as web
from webpy.app.auth import READ_METHODS, BasicAuthHandler
from webpy.app.forms import FormHandler, UploadedFile
from webpy.app.json import JSONHandler

USERS = {"alice": "wonderland", "bob": "builder"}

#: id -> note; the lock keeps posts on /notes and deletes on /notes/<id>, which the
#: server may run at the same time (they are different resources), from colliding.
notes: dict[int, dict[str, Any]] = {}
attachments: dict[int, UploadedFile] = {}
notes_lock = threading.Lock()
next_id = itertools.count(1)


class SignedInWriters(BasicAuthHandler):
    """Reads are public; anything else needs the name and password of one of `USERS`."""

    realm = "notes"
    users: ClassVar[dict[str, str]] = USERS
    public_methods = READ_METHODS


class NoteList(SignedInWriters, FormHandler, JSONHandler):
    """Forms in, JSON out: the bases' order picks FormHandler's `decode`."""

    def do_get(self) -> tuple[int, list[dict[str, Any]]]:
        with notes_lock:
            return 200, list(notes.values())

    def do_post(self) -> tuple[int, dict[str, Any]]:
        form = self.request.body
        title = form.get("title", "").strip()
        if not title:
            raise web.HTTPError(400, "a note needs a title")
        attachment = form.files.get("attachment")
        about = None if attachment is None else {
            "filename": attachment.filename, "content_type": attachment.content_type,
            "size": len(attachment.data)}
        with notes_lock:
            note_id = next(next_id)
            note = notes[note_id] = {"id": note_id, "title": title, "text": form.get("text", ""),
                                     "author": self.user, "attachment": about}
            if attachment is not None:
                attachments[note_id] = attachment
        self.response.headers["Location"] = f"/notes/{note_id}"
        return 201, note


class Note(SignedInWriters, JSONHandler):
    def do_get(self) -> tuple[int, dict[str, Any]]:
        with notes_lock:
            return 200, find(notes, self.groups[0])

    def do_delete(self) -> tuple[int, None]:
        with notes_lock:
            note = find(notes, self.groups[0])
            if note["author"] != self.user:
                raise web.HTTPError(403, "only its author may delete a note")
            del notes[note["id"]]
            attachments.pop(note["id"], None)
        return 204, None


class Attachment(web.HTTPHandler):
    def do_get(self) -> tuple[int, bytes]:
        with notes_lock:
            attachment: UploadedFile = find(attachments, self.groups[0])
        # Sent as a download, never rendered: its type is whatever the uploader said.
        self.response.headers["Content-Type"] = attachment.content_type
        self.response.headers["Content-Disposition"] = "attachment"
        self.response.headers["X-Content-Type-Options"] = "nosniff"
        return 200, attachment.data


def find(table: dict[int, Any], note_id: str) -> Any:
    try:
        return table[int(note_id)]
    except (KeyError, ValueError):  # ValueError: more digits than int() takes
        raise web.HTTPError(404, "no such note") from None


routes = {
    "/notes": NoteList,
    r"/notes/(\d+)": Note,
    r"/notes/(\d+)/attachment": Attachment,
}

if __name__ == "__main__":
    httpd = web.HTTPServer(("localhost", int(sys.argv[1]) if len(sys.argv) > 1 else 8080), routes)
    print(f"Serving notes on {httpd.url} (users: {', '.join(USERS)})", flush=True)
    httpd.serve_forever()
