"""The key-value JSON REST API as a falcon user writes it (served by waitress)."""

import falcon

documents: dict[str, object] = {"probe": {"ready": True}}  # the benchmark waits for GET /kv/probe


class Document:
    def on_get(self, req: falcon.Request, resp: falcon.Response, key: str) -> None:
        if key not in documents:
            raise falcon.HTTPNotFound()
        resp.media = documents[key]

    def on_put(self, req: falcon.Request, resp: falcon.Response, key: str) -> None:
        documents[key] = req.get_media()
        resp.media = {"stored": key}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, key: str) -> None:
        if documents.pop(key, None) is None:
            raise falcon.HTTPNotFound()
        resp.media = {"deleted": key}


app = falcon.App()
app.add_route("/kv/{key}", Document())
