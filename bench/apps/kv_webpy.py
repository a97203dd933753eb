"""The seed's key-value store as a JSON REST API, written as a webpy user would."""

import json

import webpy as web

documents: dict[str, object] = {"probe": {"ready": True}}  # the benchmark waits for GET /kv/probe


class Document(web.HTTPHandler):
    def do_get(self) -> tuple[int, object]:
        try:
            return 200, documents[self.groups[0]]
        except KeyError:
            raise web.HTTPError(404) from None

    def do_put(self) -> tuple[int, object]:
        documents[self.groups[0]] = json.loads(self.request.body)
        return 200, {"stored": self.groups[0]}

    def do_delete(self) -> tuple[int, object]:
        if documents.pop(self.groups[0], None) is None:
            raise web.HTTPError(404)
        return 200, {"deleted": self.groups[0]}


routes = {"/kv/(.+)": Document}
