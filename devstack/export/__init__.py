"""`devstack export`: the same stack, written for another engine.

The package is cut by job, around one neutral model of the stack:

    model.py       StackSpec + the environment devstack would build → ExportStack: per service its
                   argv, runtime, probe, dependencies and an env plan (what may be written, what
                   only referenced); no engine's words in it
    runtime.py     what a service is made of (Python venv, npm, Maven/Gradle, Postgres, other)
    links.py       `localhost:PORT` that means another service of the stack
    notes.py       the warnings and next steps an export prints on stderr
    images.py      Dockerfiles and their ignore files, one recipe per runtime
    checks.py      a probe as a command the image can run (compose healthcheck, Kubernetes exec)
    compose.py, systemd.py, kubernetes.py
                   one module per engine: ExportStack → files, plus notes
    writer.py      where the output goes (-o, defaults) and writing it
    resolved.py    the resolved stack as a document (`devstack config`), shared by the tests
    oneshot.py     one run of one service's probe (`devstack probe`, systemd's start check)

Nothing here prints or exits: the CLI glue (devstack/cli_export.py) does. No value read from a
`.env` file, and no value of a secret-looking variable, is ever put into an output file.
"""
