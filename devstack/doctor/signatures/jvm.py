"""The JVM's fatal lines (java, Spring Boot, Maven), each with its fix: a class or jar that cannot
be found (not built: `devstack setup`), a jar built for a newer Java than the one that runs it,
Spring Boot's "APPLICATION FAILED TO START" report (its Description and Action; a missing
datasource told by the variable to set), and a Maven build that failed (the first error with its
file and line, or the artifact it could not download).
"""

from __future__ import annotations

import re
import shutil
from typing import Final

from devstack.doctor.javas import installed_jdks, java_of_class_version
from devstack.doctor.signatures.base import Context, Signature, index_of, place, sig, stack_path


def _java_classpath(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    return f"{match.group(0)} (check the classpath / build the project first)"


def _java_jar(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    if ctx.has_setup:
        where = place(ctx.cwd, ctx.root)
        return f"{match.group(0)} (not built yet, relative to {where}: devstack setup {ctx.name})"
    return (
        f"{match.group(0)} (relative to {place(ctx.cwd, ctx.root)}: build the project first or fix the path)"
    )


def _class_version(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    built = java_of_class_version(float(match.group("built")))
    runs = java_of_class_version(float(match.group("runs")))
    java = shutil.which("java", path=ctx.path)
    which = f"the java first on its PATH, {java}" if java else "the java on its PATH"
    newer = sorted((major, folder) for major, folder in installed_jdks().items() if major >= built)
    if newer:
        fix = f'set env = {{ PATH = "{newer[0][1]}:${{PATH}}" }} for {ctx.name} in stack.toml'
    else:
        fix = f"install a JDK {built} or newer and put it first on PATH (or set JAVA_HOME)"
    return (f"{match.group('cls').replace('/', '.')} was built for Java {built} (class file "
            f"{match.group('built')}), but {ctx.name} runs Java {runs} ({which}): {fix}")


def _spring_failed(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    # LoggingFailureAnalysisReporter's layout: "Description:", blank, the description
    # (possibly several paragraphs), blank, "Action:", blank, the action.
    parts: dict[str, list[str]] = {"Description:": [], "Action:": []}
    inside: list[str] | None = None
    for line in lines[index_of(match, lines) + 1 :]:
        text = line.strip()
        if text in parts:
            inside = parts[text]
        elif inside is not None and (text.startswith("*****") or _LOG_LINE.match(text)):
            break
        elif text.startswith("Additionally,"):
            inside = None  # other places that set the property: the line has no room for them
        elif inside is not None and text:
            inside.append(text)
    description, action = " ".join(parts["Description:"]), " ".join(parts["Action:"])
    if not description:
        return "Spring Boot application failed to start (its output has no Description)"
    return f"{description} Action: {action}" if action else description


# A log line after the report (a timestamp first) ends its last section.
_LOG_LINE: Final = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


def _no_datasource(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    env_file = stack_path(ctx.cwd / ".env", ctx.root)
    return (f"Spring Boot has no datasource URL: set SPRING_DATASOURCE_URL (with SPRING_DATASOURCE_USERNAME "
            f"and SPRING_DATASOURCE_PASSWORD) in [services.{ctx.name}.env] of stack.toml or in {env_file}, "
            "or spring.datasource.url in application.properties")


def _maven_compile(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    # The first compile error is the one to fix; Maven repeats them all after "Failed to execute goal".
    first = match
    for line in lines:
        found = _MAVEN_COMPILE.search(line)
        if found:
            first = found
            break
    where = stack_path(first.group("file"), ctx.root)
    return f"Maven could not compile {where}:{first.group('line')}: {first.group('message')}"


def _maven_download(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    return (f"Maven could not download {match.group('artifact')} from {match.group('url')} "
            f"({match.group('why')}): offline? Run it once with the network to fill ~/.m2; "
            "after that it builds offline")


def _maven_goal(match: re.Match[str], ctx: Context, lines: list[str]) -> str:
    return f"Maven failed: {match.group('why')}"


_MAVEN_COMPILE: Final = re.compile(
    r"^\[ERROR\] (?P<file>\S+\.(?:java|kt|groovy|scala)):\[(?P<line>\d+),\d+\] (?P<message>.+)$")

SIGNATURES: Final[tuple[Signature, ...]] = (
    sig(
        "java-unsupported-class-version",
        r"UnsupportedClassVersionError: (?P<cls>\S+) has been compiled by a more recent version of the "
        r"Java Runtime \(class file version (?P<built>\d+(?:\.\d+)?)\), this version of the Java Runtime "
        r"only recognizes class file versions up to (?P<runs>\d+(?:\.\d+)?)",
        _class_version,
    ),
    sig(
        "java-class-not-found",
        r'Exception in thread "[^"]*" java\.lang\.(?:ClassNotFoundException|NoClassDefFoundError)\b.*'
        r"|Error: Could not find or load main class .+",
        _java_classpath,
    ),
    sig("java-no-jar", r"Error: Unable to access jarfile .+", _java_jar),
    sig("spring-no-datasource", r"Failed to configure a DataSource: 'url' attribute is not specified",
        _no_datasource),
    sig("spring-failed-to-start", r"^\s*APPLICATION FAILED TO START\s*$", _spring_failed),
    Signature("maven-compile", _MAVEN_COMPILE, _maven_compile),
    sig(
        "maven-download",
        r"Could not transfer artifact (?P<artifact>\S+) from/to \S+ \((?P<url>[^)]+)\): .*?"
        r"(?P<why>Unknown host \S+?|Connection refused|Connect timed out|Network is unreachable|"
        r"No route to host|Temporary failure in name resolution)(?=[:;,)\s]|$)",
        _maven_download,
    ),
    sig("maven-goal", r"^\[ERROR\] Failed to execute goal \S+ (?:\([^)]*\) )?on project [^:]+: (?P<why>.+?)"
        r"(?: -> \[Help \d+\])?$", _maven_goal),
)
