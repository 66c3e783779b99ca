"""JWT helpers of the AI API (PyJWT).

The key and algorithm come from JWT_SECRET_KEY / JWT_ALGORITHM in the environment
(main.py loads .env and refuses to start without JWT_SECRET_KEY), read at call time
so that this module has no import-time dependency on the settings.
"""

from __future__ import annotations

import os
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

DEFAULT_ALGORITHM = "HS256"
DEFAULT_EXPIRES_MINUTES = 60

MIN_HMAC_KEY_BYTES = 32  # RFC 7518 3.2, for HS256

InvalidTokenError = jwt.InvalidTokenError  # expired, bad signature, malformed...

# PyJWT warns on every new call site about a short HMAC key; main.py says it once at startup.
warnings.filterwarnings("ignore", category=jwt.InsecureKeyLengthWarning)


def _secret_key() -> str:
    key = os.environ.get("JWT_SECRET_KEY", "")
    if not key:
        raise RuntimeError("JWT_SECRET_KEY is not set (see .env.example)")
    return key


def _algorithm() -> str:
    return os.environ.get("JWT_ALGORITHM") or DEFAULT_ALGORITHM


def weak_key_warning() -> str | None:
    """A one-line warning when the HMAC key is shorter than RFC 7518 recommends, else None."""
    algorithm = _algorithm()
    size = len(os.environ.get("JWT_SECRET_KEY", "").encode())
    if algorithm.startswith("HS") and size < MIN_HMAC_KEY_BYTES:
        return (f"JWT_SECRET_KEY is {size} bytes, below the {MIN_HMAC_KEY_BYTES} recommended for "
                f"{algorithm}: fine for this local demo, use a long random key anywhere else")
    return None


def create_access_token(subject: str, expires_minutes: int = DEFAULT_EXPIRES_MINUTES,
                        **claims: Any) -> str:
    """A signed token for `subject` that expires after `expires_minutes`."""
    now = datetime.now(UTC)
    payload = {**claims, "sub": subject, "iat": now, "exp": now + timedelta(minutes=expires_minutes)}
    return jwt.encode(payload, _secret_key(), algorithm=_algorithm())


def verify_token(token: str) -> dict[str, Any]:
    """The claims of a valid token; raises jwt.InvalidTokenError (expired, bad signature...)."""
    return jwt.decode(token, _secret_key(), algorithms=[_algorithm()])
