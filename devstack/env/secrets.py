"""What counts as secret in a service's environment, and masking it: secret-looking names,
URLs with a password, and the `Redactor` that keeps secret values out of what devstack itself
shows (status errors, its own event lines, findings quoting other programs' output).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

MASK = "****"


# Words that mark a secret wherever they end a name part: PGPASSWORD, CLIENTSECRET,
# GITHUB_TOKEN. Matched at the end of a part only, so TOKENIZERS_PARALLELISM is not one.
_SECRET_SUFFIXES = re.compile(
    r"(PASSWORDS?|PASSWD|PASSPHRASE|SECRETS?|TOKEN|CREDENTIALS?|APIKEYS?|SECRETKEY|PRIVATEKEY|ACCESSKEY)$"
)


# Short words that are too common inside other words (KEYBOARD, BYPASS, PASSPORT,
# MONKEY) to match anywhere but as a whole part: API_KEY, DB_PASS, MYSQL_PWD.
_SECRET_PARTS = frozenset({"KEY", "KEYS", "PASS", "PWD"})


# Shell variables that merely look secret: PWD is the working directory.
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})


# A URL with a password in it (postgres://app:hunter2@db/app), whatever the name.
URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@")


@functools.lru_cache(maxsize=4096)  # every start re-checks every variable of the service
def looks_secret(name: str) -> bool:
    """True when a variable's name marks it as secret.

    The name is cut into parts at `_`, `-`, `.` and camelCase boundaries (trailing digits
    dropped). It is secret when a part *ends with* PASSWORD(S), PASSWD, PASSPHRASE,
    SECRET(S), TOKEN, CREDENTIAL(S), APIKEY(S), SECRETKEY, PRIVATEKEY or ACCESSKEY, or
    *is* KEY, KEYS, PASS or PWD. PWD and OLDPWD themselves (the shell's folders) are not.
    """
    if name.upper() in _NOT_SECRET_NAMES:
        return False
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    for part in re.split(r"[^A-Za-z0-9]+", spaced.upper()):
        part = part.rstrip("0123456789")
        if part in _SECRET_PARTS or _SECRET_SUFFIXES.search(part):
            return True
    return False


class Redactor:
    """Masks the secret values services get (.env values, secret-looking names, values built from
    them) in text devstack itself shows: status errors and its own event lines. A service's own
    log file is left as the service wrote it. Values shorter than MIN are left alone (masking "1"
    or "true" everywhere would garble every message)."""

    MIN = 4

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: list[str] = []  # longest first, so a value inside another is masked whole
        self.learn(values)

    def learn(self, values: Iterable[str]) -> None:
        """Mask these values too (a service's `ServiceEnv.secrets()`)."""
        known = set(self._values) | set(values)
        self._values = sorted((v for v in known if len(v) >= self.MIN), key=len, reverse=True)

    def text(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def data(self, data: object) -> object:
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {key: self.data(value) for key, value in data.items()}
        if isinstance(data, list):
            return [self.data(item) for item in data]
        return data
