"""The `java` check: the Java that runs a JVM service is new enough for what it runs. A jar built
for Java 21 and run by a Java 17 dies with UnsupportedClassVersionError at every start; this
says so before the first one, with the JDK to use (javas.py knows the versions).
"""

from __future__ import annotations

from pathlib import Path

from devstack.doctor.findings import Context, Finding, Severity
from devstack.doctor.javas import build_needs, find_java, installed_jdks, jar_needs, java_version
from devstack.env.executables import first_word, resolve_executable
from devstack.text.words import command_words

_BUILD_TOOLS = frozenset({"mvn", "mvnw", "gradle", "gradlew"})


def check_java(ctx: Context) -> list[Finding]:
    command = ctx.service.command
    word, unchecked = first_word(command, ctx.env.windows)
    tool = Path(word).name if word else ""
    if unchecked or (tool != "java" and tool not in _BUILD_TOOLS):
        return []
    home = ctx.env.get("JAVA_HOME") if tool in _BUILD_TOOLS else None
    if tool == "java":
        found = resolve_executable(command, ctx.env.as_dict(), ctx.service.cwd, windows=ctx.env.windows)
        if found is None:
            return []  # the executable check says so already
        java: Path | None = Path(found)
    else:
        path = ctx.env.get("PATH")
        java = find_java(path.value if path else None, home.value if home else None)
    if java is None:
        return [ctx.finding(Severity.ERROR, "java", f"{tool} needs a JDK, but there is no java on the "
                            "service's PATH and JAVA_HOME is not set", "install a JDK, or set JAVA_HOME")]
    words = command_words(command)
    need, source = _needed(ctx, words)
    have = java_version(java)
    if need is None or have is None or have >= need:
        return []
    if home:
        which = f"JAVA_HOME's java ({java})"
    elif word and "/" in word:
        which = f"its java ({java})"
    else:
        which = f"the java first on the service's PATH ({java})"
    message = f"{source} needs Java {need}, but {which} is Java {have}"
    return [ctx.finding(Severity.ERROR, "java", message, _fix(ctx, need))]


def _needed(ctx: Context, words: list[str]) -> tuple[int | None, str]:
    if "-jar" in words[:-1]:
        jar = ctx.service.cwd / words[words.index("-jar") + 1]
        need = jar_needs(jar) if jar.is_file() else None
        if need is not None:
            return need, ctx.show(jar)
    found = build_needs(ctx.service.cwd)
    if found is not None:
        return found[0], ctx.show(found[1])
    return None, ""


def _fix(ctx: Context, need: int) -> str:
    jdks = sorted((major, folder) for major, folder in installed_jdks().items() if major >= need)
    if jdks:
        bin_dir = jdks[0][1]
        return (f'set env = {{ JAVA_HOME = "{bin_dir.parent}", PATH = "{bin_dir}:${{PATH}}" }} for '
                f"{ctx.service.name} in stack.toml")
    return f"install a JDK {need} or newer, and put it first on PATH (or set JAVA_HOME)"


