"""The key-value JSON REST API as a FastAPI user writes it (served by uvicorn)."""

from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException

app = FastAPI()
documents: dict[str, Any] = {"probe": {"ready": True}}  # the benchmark waits for GET /kv/probe


@app.get("/kv/{key:path}")
async def get(key: str) -> Any:
    if key not in documents:
        raise HTTPException(404)
    return documents[key]


@app.put("/kv/{key:path}")
async def put(key: str, document: Annotated[Any, Body()]) -> dict[str, str]:
    documents[key] = document
    return {"stored": key}


@app.delete("/kv/{key:path}")
async def delete(key: str) -> dict[str, str]:
    if documents.pop(key, None) is None:
        raise HTTPException(404)
    return {"deleted": key}
