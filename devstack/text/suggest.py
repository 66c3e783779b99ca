"""'Did you mean' for names the user typed, worded one way everywhere: "did you mean 'api'?"."""

from __future__ import annotations


def closest(word: str, choices: list[str]) -> str | None:
    import difflib  # only for a name that is wrong: not on every start-up

    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, choices: list[str]) -> str | None:
    """"did you mean 'api'?" for the closest of `choices`, or None when none is close."""
    guess = closest(word, choices)
    return f"did you mean '{guess}'?" if guess else None


def unknown_service_message(name: str, known: list[str]) -> str:
    shown = name if len(name) <= 60 and name.isprintable() else repr(name[:60])
    hint = did_you_mean(name, known)
    said = f"No service named '{shown}'; {hint}" if hint else f"No service named '{shown}'."
    return f"{said} Known services: {', '.join(known)}."
