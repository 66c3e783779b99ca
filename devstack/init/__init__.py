"""`devstack init`: look through a repository and write the stack.toml that runs it.

One module per job, each importable without the others' third-party weight:

    walk        the repository walk: which folders are looked at, which are skipped and why
    repo        the walked repository as detectors see it: reading files, notes, --choose
    model       values: a found service with its evidence, a Postgres URL, an ambiguity
    vite        Vite apps (package.json, lockfile, vite.config.*)        } one detector per
    spring      Spring Boot apps (pom.xml / build.gradle[.kts])          } framework: each
    fastapi     FastAPI apps; flask, django where simple                 } looks at one folder
    postgres    the Postgres a repository's URLs or compose file name, and its setup script
    wiring      service names, depends_on, the Spring datasource, port clashes
    toml_out    the stack.toml text
    detect      the whole run: walk, detectors, Postgres, wiring

PyYAML is imported only by the modules that read YAML, so nothing else in devstack loads it.
"""
