"""A chat room: one page, a WebSocket for the messages, server-sent events for who is here.

    python examples/chat.py [PORT]      # then open http://localhost:8000/?name=alice

Each page opens a WebSocket to /chat (what it sends is broadcast to everyone as
"name: text") and an EventSource on /presence (the sorted list of names in the
room, as JSON, whenever it changes). Open two tabs with different names.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import webpy as web
from webpy.app.sse import EventStream, EventStreamHandler, StreamClosed
from webpy.app.websocket import WebSocketClosed, WebSocketHandler

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>webpy chat</title></head>
<body>
<h1>Chat</h1>
<p id="who">connecting</p>
<ul id="log"></ul>
<form id="say"><input id="text" autocomplete="off"><button>Send</button></form>
<script>
const params = new URLSearchParams(location.search);
const name = params.get("name") || "guest";
const log = document.getElementById("log");
function show(kind, text) {
  const item = document.createElement("li");
  item.className = kind;
  item.textContent = text;
  log.appendChild(item);
}
// ?say=text: a scripted visit (e.g. a test): say it, and leave once the message
// came back and the presence list showed this visitor.
const say = params.get("say");
let heard = false, listed = false, presence = null;
function leaveIfDone() {
  if (say && heard && listed) {
    presence.close();
    socket.close(1000, "said it");
  }
}
function followPresence() {
  presence = new EventSource("/presence");
  presence.addEventListener("presence", event => {
    const names = JSON.parse(event.data);
    document.getElementById("who").textContent = `${names.length} here: ${names.join(", ")}`;
    listed = listed || names.includes(name);
    leaveIfDone();
  });
}
const scheme = location.protocol === "https:" ? "wss" : "ws";
const socket = new WebSocket(`${scheme}://${location.host}/chat?name=${encodeURIComponent(name)}`);
socket.onopen = () => {
  followPresence();  // in the room: follow who else is
  if (say) socket.send(say);
};
socket.onmessage = event => {
  show("message", event.data);
  heard = heard || event.data === `${name}: ${say}`;
  leaveIfDone();
};
socket.onclose = event => {
  show("closed", `closed ${event.code}`);
  if (presence) presence.close();  // out of the room: stop following it
};
document.getElementById("say").onsubmit = event => {
  event.preventDefault();
  const text = document.getElementById("text");
  socket.send(text.value);
  text.value = "";
};
</script>
</body>
</html>
"""


class Room:
    """Who is in the chat and who watches the presence list; safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._members: dict[WebSocketHandler, str] = {}
        self._watchers: set[EventStream] = set()

    def join(self, member: WebSocketHandler, name: str) -> None:
        with self._lock:
            self._members[member] = name
        self._announce()

    def leave(self, member: WebSocketHandler) -> None:
        with self._lock:
            self._members.pop(member, None)
        self._announce()

    def say(self, name: str, text: str) -> None:
        with self._lock:
            members = list(self._members)
        for member in members:
            try:
                member.send(f"{name}: {text}")
            except WebSocketClosed:
                pass  # leaving right now; on_close removes it

    def watch(self, stream: EventStream) -> None:
        with self._lock:
            self._watchers.add(stream)
        stream.on_close(lambda: self._unwatch(stream))
        self._announce_to(stream)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._members.values())

    def _unwatch(self, stream: EventStream) -> None:
        with self._lock:
            self._watchers.discard(stream)

    def _announce(self) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for stream in watchers:
            self._announce_to(stream)

    def _announce_to(self, stream: EventStream) -> None:
        try:
            stream.send(json.dumps(self.names()), event="presence")
        except StreamClosed:
            pass


room = Room()


class Page(web.HTTPHandler):
    def do_get(self) -> Any:
        self.response.headers["Content-Type"] = "text/html; charset=utf-8"
        return 200, PAGE


class Chat(WebSocketHandler):
    max_message_bytes = 4096

    def on_connect(self) -> None:
        self.name = self.request.query.get("name", "guest")[:40]
        room.join(self, self.name)

    def on_message(self, message: str | bytes) -> None:
        if isinstance(message, str):
            room.say(self.name, message)

    def on_close(self, code: int, reason: str) -> None:
        room.leave(self)


class Presence(EventStreamHandler):
    def do_get(self) -> Any:
        stream = EventStream(heartbeat=15)
        room.watch(stream)
        return 200, stream


routes = {"/": Page, "/chat": Chat, "/presence": Presence}

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    server = web.HTTPServer(("localhost", port), routes, threads=16)
    print(f"chat on {server.url}", flush=True)
    server.serve_forever()
