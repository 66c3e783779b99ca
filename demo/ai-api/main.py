"""LifeBit AI-API: the FastAPI service of the demo stack (port 8001).

Run it from this folder with the venv's uvicorn:

    uvicorn main:app --host 127.0.0.1 --port 8001

Settings come from the environment, completed by the .env next to this file
(`cp .env.example .env`; devstack's setup does it). Without DATABASE_URL or
JWT_SECRET_KEY the app refuses to start instead of running on made-up defaults, and it
checks the database (SELECT 1) before it accepts requests: when either fails it prints
one line saying why and exits with code 1.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import auth_utils
from dotenv import load_dotenv
from fastapi import FastAPI, Header, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

SERVICE_NAME = "LifeBit AI-API"
HERE = Path(__file__).resolve().parent
ENV_FILE = HERE / ".env"
FRONTEND_ORIGINS = ["http://localhost:5173", "http://127.0.0.1:5173"]
REQUIRED_SETTINGS = ("DATABASE_URL", "JWT_SECRET_KEY")
DB_CONNECT_TIMEOUT_SECONDS = 5

# uvicorn's own logger: our lines look like its lines ("ERROR:    ...").
log = logging.getLogger("uvicorn.error")

# Only this folder's .env, not one found by walking up the tree; variables already in
# the environment win (devstack exports the same file before starting us).
load_dotenv(ENV_FILE, override=False)


def _say_why(message: str) -> None:
    """Log the one line that says why we cannot start (the caller then exits with code 1)."""
    log.error(message)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()


def _check_settings() -> None:
    missing = [name for name in REQUIRED_SETTINGS if not os.environ.get(name, "").strip()]
    if not missing:
        return
    names = ", ".join(missing)
    verb = "is" if len(missing) == 1 else "are"
    if ENV_FILE.is_file():
        problem = f"{names} {verb} not set in {ENV_FILE} (see .env.example)"
    else:
        problem = (f"{names} {verb} not set and there is no .env in {HERE} "
                   f"(create it: cp .env.example .env)")
    _say_why(f"{SERVICE_NAME} cannot start: {problem}")
    raise SystemExit(1)


_check_settings()

DATABASE_URL = os.environ["DATABASE_URL"].strip()
USE_GPT = os.environ.get("USE_GPT", "False").strip().lower() in {"1", "true", "yes", "on"}
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "").strip()
OPENAI_MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini").strip()


def _database_url(raw: str) -> URL:
    try:
        url = make_url(raw)
    except ArgumentError:
        _say_why(f"{SERVICE_NAME} cannot start: DATABASE_URL is not a database URL "
                 f"(expected postgresql://user:password@host:port/dbname; see .env.example)")
        raise SystemExit(1) from None
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; this service ships psycopg2.
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    return url


DB_URL = _database_url(DATABASE_URL)
DB_WHERE = f"{DB_URL.host or 'localhost'}:{DB_URL.port or 5432}/{DB_URL.database or ''}"
engine: Engine = create_engine(
    DB_URL,
    pool_pre_ping=True,  # survive a Postgres restart
    connect_args={"connect_timeout": DB_CONNECT_TIMEOUT_SECONDS},
)


def _db_error(exc: SQLAlchemyError) -> str:
    """The driver's first line ("connection to server at ... failed: Connection refused")."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return "; ".join(lines[:2]) if lines else type(orig).__name__


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        _say_why(f"{SERVICE_NAME} cannot start: cannot connect to the database {DB_WHERE}: "
                 f"{_db_error(exc)}")
        engine.dispose()
        # Exit here rather than raise: uvicorn would print a traceback and end with its
        # generic "Application startup failed. Exiting.", hiding the reason above. The
        # socket is not bound yet, so there is nothing else to clean up.
        os._exit(1)
    log.info("%s: database %s connected; USE_GPT=%s", SERVICE_NAME, DB_WHERE, USE_GPT)
    weak = auth_utils.weak_key_warning()
    if weak:
        log.warning(weak)
    yield
    engine.dispose()


app = FastAPI(title=SERVICE_NAME, lifespan=lifespan)
app.add_middleware(
    CORSMiddleware,
    allow_origins=FRONTEND_ORIGINS,
    allow_methods=["*"],
    allow_headers=["*"],
)


@app.get("/")
def root() -> dict[str, str]:
    return {"status": "OK", "service": SERVICE_NAME}


@app.get("/api/py/health/db", response_model=None)
def health_db() -> dict[str, Any] | JSONResponse:
    try:
        with engine.connect() as conn:
            count = conn.execute(text("SELECT COUNT(*) FROM users")).scalar_one()
    except SQLAlchemyError as exc:
        return JSONResponse(
            status_code=503,
            content={"status": "ERROR", "database": "Disconnected", "error": _db_error(exc)},
        )
    return {"status": "OK", "database": "Connected", "userCount": count}


class VoiceRequest(BaseModel):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class VoiceReply(BaseModel):
    reply: str
    model: str


_TOPICS = (
    (re.compile(r"\b(ran|run\w*|walk\w*|jog\w*|swim\w*|gym|workout|exercis\w*|squats?|km|steps)\b"),
     "Logged it as exercise"),
    (re.compile(r"\b(ate|eat\w*|breakfast|lunch|dinner|snack|meal|calories)\b"), "Logged it as a meal"),
    (re.compile(r"\b(slept|sleep\w*|nap)\b"), "Logged it as sleep"),
)


def _simulated_reply(said: str) -> str:
    lowered = said.lower()
    topic = next((answer for pattern, answer in _TOPICS if pattern.search(lowered)), "Noted")
    return f'{topic}: "{said}". (Simulated reply: set USE_GPT=True and OPENAI_API_KEY for a real one.)'


def _gpt_reply(said: str) -> str:
    request = urllib.request.Request(
        "https://api.openai.com/v1/chat/completions",
        data=json.dumps({
            "model": OPENAI_MODEL,
            "messages": [
                {"role": "system", "content": "You are LifeBit, a friendly health-logging assistant. "
                                              "Answer in one or two sentences."},
                {"role": "user", "content": said},
            ],
        }).encode(),
        headers={"Authorization": f"Bearer {OPENAI_API_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    return str(body["choices"][0]["message"]["content"]).strip()


@app.post("/api/py/voice", response_model=VoiceReply)
def voice(request: VoiceRequest) -> VoiceReply:
    if not USE_GPT:
        return VoiceReply(reply=_simulated_reply(request.text), model="simulated")
    if not OPENAI_API_KEY:
        raise HTTPException(status_code=503, detail="USE_GPT is True but OPENAI_API_KEY is empty (.env)")
    try:
        return VoiceReply(reply=_gpt_reply(request.text), model=OPENAI_MODEL)
    except (urllib.error.URLError, TimeoutError, KeyError, IndexError, ValueError) as exc:
        raise HTTPException(status_code=502, detail=f"OpenAI request failed: {exc}") from None


class TokenRequest(BaseModel):
    sub: str = Field(default="demo-user", min_length=1, max_length=200)


@app.post("/api/py/token")
def token(request: TokenRequest | None = None) -> dict[str, Any]:
    subject = (request or TokenRequest()).sub
    minutes = auth_utils.DEFAULT_EXPIRES_MINUTES
    return {
        "access_token": auth_utils.create_access_token(subject, minutes),
        "token_type": "bearer",
        "expires_in": minutes * 60,
    }


@app.get("/api/py/token/verify")
def verify(authorization: str = Header(default="")) -> dict[str, Any]:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise HTTPException(status_code=401, detail="expected 'Authorization: Bearer <token>'")
    try:
        claims = auth_utils.verify_token(value.strip())
    except auth_utils.InvalidTokenError as exc:
        raise HTTPException(status_code=401, detail=f"invalid token: {exc}") from None
    return {"valid": True, "claims": claims}
