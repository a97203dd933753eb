"""A Starlette app and a FastAPI app of the kinds of endpoints real ones have."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import AsyncIterator

from fastapi import BackgroundTasks, FastAPI
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

#: What background tasks and lifespan handlers did, for the tests to check.
events: list[str] = []
background_done = threading.Event()


@contextlib.asynccontextmanager
async def starlette_lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
    events.append("starlette started")
    yield {"greeting": "hello from lifespan"}
    events.append("starlette stopped")


async def home(request: Request) -> JSONResponse:
    return JSONResponse({"greeting": request.state.greeting,
                         "root_path": request.scope["root_path"], "path": request.url.path})


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"size": len(body), "sha256": hashlib.sha256(body).hexdigest()})


async def numbers(request: Request) -> StreamingResponse:
    count = int(request.query_params.get("count", "10"))

    async def lines() -> AsyncIterator[bytes]:
        for number in range(count):
            yield f"{number}\n".encode()

    return StreamingResponse(lines(), media_type="text/plain")


def after_response(what: str) -> None:
    events.append(what)
    background_done.set()


async def with_background(request: Request) -> PlainTextResponse:
    return PlainTextResponse("sent first", background=BackgroundTask(after_response, "ran after"))


def sync_endpoint(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"sync in a thread: {threading.current_thread().name != 'MainThread'}")


class Tagged(BaseHTTPMiddleware):
    """Runs the app in a task of its own and passes the response on: a common middleware shape."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["X-Through-Middleware"] = "yes"
        return response


starlette_app = Starlette(
    routes=[
        Route("/", home),
        Route("/echo", echo, methods=["POST"]),
        Route("/numbers", numbers),
        Route("/background", with_background),
        Route("/sync", sync_endpoint),
    ],
    lifespan=starlette_lifespan,
    middleware=[Middleware(Tagged)],
)


# -- FastAPI ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fastapi_lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.items = {}
    events.append("fastapi started")
    yield
    events.append("fastapi stopped")


fastapi_app = FastAPI(lifespan=fastapi_lifespan)


class Item(BaseModel):
    name: str
    price: float


@fastapi_app.put("/items/{item_id}")
async def put_item(item_id: int, item: Item) -> dict[str, object]:
    fastapi_app.state.items[item_id] = item
    return {"id": item_id, "name": item.name, "price": item.price}


@fastapi_app.get("/items/{item_id}")
async def get_item(item_id: int) -> Item:
    return fastapi_app.state.items[item_id]  # type: ignore[no-any-return]


@fastapi_app.get("/stream")
async def stream(count: int = 5) -> StreamingResponse:
    async def words() -> AsyncIterator[str]:
        for number in range(count):
            yield f"word{number} "

    return StreamingResponse(words(), media_type="text/plain")


@fastapi_app.post("/notify")
async def notify(background_tasks: BackgroundTasks) -> dict[str, str]:
    background_tasks.add_task(after_response, "fastapi background ran")
    return {"queued": "yes"}
