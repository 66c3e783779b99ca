"""'Did you mean' for names the user typed."""

from __future__ import annotations


def closest(word: str, choices: list[str]) -> str | None:
    import difflib  # only for a name that is wrong: not on every start-up

    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_service_message(name: str, known: list[str]) -> str:
    shown = name if len(name) <= 60 and name.isprintable() else repr(name[:60])
    guess = closest(name, known)
    hint = f" Did you mean '{guess}'?" if guess else ""
    return f"No service named '{shown}'.{hint} Known services: {', '.join(known)}."
