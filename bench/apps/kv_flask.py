"""The key-value JSON REST API as a Flask user writes it (served by waitress)."""

from flask import Flask, abort, jsonify, request

app = Flask(__name__)
documents: dict[str, object] = {"probe": {"ready": True}}  # the benchmark waits for GET /kv/probe


@app.get("/kv/<path:key>")
def get(key: str):  # type: ignore[no-untyped-def]
    if key not in documents:
        abort(404)
    return jsonify(documents[key])


@app.put("/kv/<path:key>")
def put(key: str):  # type: ignore[no-untyped-def]
    documents[key] = request.get_json(force=True)
    return jsonify(stored=key)


@app.delete("/kv/<path:key>")
def delete(key: str):  # type: ignore[no-untyped-def]
    if documents.pop(key, None) is None:
        abort(404)
    return jsonify(deleted=key)
