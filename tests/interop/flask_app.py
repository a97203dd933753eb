"""A small Flask application of the kinds of pages real ones have, for the interop tests."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Flask, abort, jsonify, redirect, request, stream_with_context, url_for
from werkzeug.wrappers import Response

app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024


@app.get("/")
def index() -> str:
    return "<!doctype html><title>Home</title><h1>Hello from Flask</h1>"


@app.post("/items")
def create_item() -> tuple[Response, int]:
    item = request.get_json()
    return jsonify(stored=item, script_root=request.script_root), 201


@app.post("/upload")
def upload() -> Response:
    uploaded = request.files["document"]
    data = uploaded.read()
    return jsonify(filename=uploaded.filename, size=len(data), title=request.form["title"],
                   first=data[:5].decode("latin-1"))


@app.get("/stream")
def stream() -> Response:
    count = int(request.args.get("count", "5"))

    @stream_with_context
    def lines() -> Iterator[str]:
        for number in range(count):
            # request is still reachable while streaming: the context is kept for the body.
            yield f"{request.path} line {number}\n"

    return Response(lines(), mimetype="text/plain")


@app.get("/old")
def old() -> Response:
    return redirect(url_for("index"))


@app.get("/forbidden")
def forbidden() -> None:
    abort(403)


@app.get("/crash")
def crash() -> None:
    raise RuntimeError("the view failed")
