"""The JVM's fatal lines (java, Spring Boot): a class or jar that cannot be found, and Spring
Boot's "APPLICATION FAILED TO START" report, told by its Description.
"""

from __future__ import annotations

import re
from typing import Final

from devstack.doctor.signatures.base import Context, Signature, index_of, place, sig


def _java_classpath(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    return f"{match.group(0)} (check the classpath / build the project first)"


def _java_jar(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    return (
        f"{match.group(0)} (relative to {place(ctx.cwd, ctx.root)}: build the project first or fix the path)"
    )


def _spring_failed(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    # LoggingFailureAnalysisReporter's layout: "Description:", blank, the description
    # (possibly several paragraphs), blank, "Action:", blank, the action.
    description: list[str] = []
    inside = False
    for line in lines[index_of(match, lines) + 1 :]:
        text = line.strip()
        if text == "Description:":
            inside = True
        elif text == "Action:" or (inside and text.startswith("*****")):
            break
        elif inside and text:
            description.append(text)
    if not description:
        return "Spring Boot application failed to start (its output has no Description)"
    return " ".join(description)


SIGNATURES: Final[tuple[Signature, ...]] = (
    sig(
        "java-class-not-found",
        r'Exception in thread "[^"]*" java\.lang\.(?:ClassNotFoundException|NoClassDefFoundError)\b.*'
        r"|Error: Could not find or load main class .+",
        _java_classpath,
    ),
    sig("java-no-jar", r"Error: Unable to access jarfile .+", _java_jar),
    sig("spring-failed-to-start", r"^\s*APPLICATION FAILED TO START\s*$", _spring_failed),
)
