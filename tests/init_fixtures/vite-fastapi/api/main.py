"""The API of the "Vite + FastAPI" fixture repository of devstack init's tests."""

from __future__ import annotations

import os

from fastapi import FastAPI

app = FastAPI(title="fixture api")


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "OK"}


@app.get("/api/hello")
def hello() -> dict[str, str]:
    return {"greeting": os.environ.get("GREETING", "no .env")}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
