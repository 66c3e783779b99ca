"""The dashboard's HTTP API described as OpenAPI 3.1 (served at /api/v1/openapi.json): written by
hand, next to the routes it describes (app.py); tests check it against the OpenAPI schema and
against the routes."""

from __future__ import annotations

from typing import Any

_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
         "description": "A service of the stack, as stack.toml names it."}
_ERROR = {"description": "One sentence saying what is wrong.",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_AUTH = {"401": {"$ref": "#/components/responses/Unauthorized"},
         "403": {"$ref": "#/components/responses/Forbidden"}}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _action(verb: str, what: str) -> dict[str, Any]:
    return {"post": {"summary": what, "operationId": f"{verb}Service", "parameters": [_NAME],
                     "responses": {"200": _json("Service", "Done: the service's new status."),
                                   "404": _ERROR, "409": _ERROR, **_AUTH}}}


_SERVICE = {
    "type": "object",
    "required": ["name", "state", "optional", "pid", "port", "restarts", "started_at", "exit_code",
                 "cpu_percent", "memory_rss", "health"],
    "properties": {
        "name": {"type": "string"},
        "state": {"enum": ["pending", "starting", "healthy", "running", "unhealthy", "backoff", "failed",
                           "exited", "stopped"]},
        "optional": {"type": "boolean"},
        "pid": {"type": ["integer", "null"]},
        "port": {"type": ["integer", "null"]},
        "restarts": {"type": "integer"},
        "started_at": {"type": ["string", "null"], "format": "date-time"},
        "uptime_s": {"type": ["number", "null"]},
        "exit_code": {"type": ["integer", "null"]},
        "cpu_percent": {"type": "number"},
        "memory_rss": {"type": "integer"},
        "health": {"type": "object", "properties": {
            "status": {"enum": ["OK", "WARN", "ERROR", None]},
            "last_checked": {"type": ["string", "null"]},
            "response_time_ms": {"type": ["number", "null"]},
            "error": {"type": ["string", "null"], "description": "Why the service is not up, in one line."},
            "address": {"type": ["string", "null"]}}},
    },
}

_TIMELINE_SERVICE = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "state": {"type": ["string", "null"]},
                   "restarts": {"type": "integer"},
                   **{phase: {"type": ["number", "null"], "description": "Seconds since started_at."}
                      for phase in ("wait_s", "preflight_s", "spawn_s", "first_output_s", "port_s",
                                    "healthy_s")},
                   "error": {"type": ["string", "null"]}},
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "devstack dashboard", "version": "1",
             "description": "The live state of one devstack stack. Every /api/ request needs the "
                            "dashboard's token: `Authorization: Bearer TOKEN`, or the cookie the page gets "
                            "for `/?token=TOKEN`."},
    "servers": [{"url": "http://127.0.0.1"}],
    "security": [{"bearer": []}, {"cookie": []}],
    "paths": {
        "/api/v1/status": {"get": {"summary": "The same document as `devstack status --json`.",
                                   "operationId": "status",
                                   "responses": {"200": _json("Status", "The stack's status."), **_AUTH}}},
        "/api/v1/events": {"get": {
            "summary": "Server-Sent Events: `status` (the whole document) first, then `service` on every "
                       "change of a service, `log` for each new output line, `dropped` when lines were "
                       "left out to keep the page responsive (they are all in the log files). Every event "
                       "has an id; send it back as `Last-Event-ID` to resume without duplicates.",
            "operationId": "events",
            "parameters": [{"name": "Last-Event-ID", "in": "header", "required": False,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "An event stream.",
                                  "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                          **_AUTH}}},
        "/api/v1/services/{name}/logs": {"get": {
            "summary": "The last lines of a service's log.", "operationId": "logs",
            "parameters": [_NAME, {"name": "n", "in": "query", "required": False,
                                   "schema": {"type": "integer", "minimum": 1, "maximum": 10000,
                                              "default": 100}}],
            "responses": {"200": {"description": "Lines, oldest first.", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"lines": {
                    "type": "array", "items": {"$ref": "#/components/schemas/LogLine"}}}}}}},
                "400": _ERROR, "404": _ERROR, **_AUTH}}},
        "/api/v1/timeline": {"get": {
            "summary": "The same document as `devstack analyze --json`.", "operationId": "timeline",
            "responses": {"200": _json("Timeline", "The last start of the stack."),
                          "404": _ERROR, **_AUTH}}},
        "/api/v1/services/{name}/start": _action("start", "Start the service (and its dependencies); "
                                                          "answers once it is up or has failed."),
        "/api/v1/services/{name}/stop": _action("stop", "Stop the service."),
        "/api/v1/services/{name}/restart": _action("restart", "Restart the service; answers once it is up "
                                                              "again or has failed."),
        "/api/v1/up": {"post": {"summary": "Start every service (a supervisor too when none runs).",
                                "operationId": "up",
                                "responses": {"200": _json("Status", "The stack's status."), "409": _ERROR,
                                              **_AUTH}}},
        "/api/v1/down": {"post": {"summary": "Stop every service and the supervisor.", "operationId": "down",
                                  "responses": {"200": _json("Status", "The stack's status, every service "
                                                                       "stopped."), **_AUTH}}},
        "/api/v1/openapi.json": {"get": {
            "summary": "This description.", "operationId": "openapi",
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}},
                          **_AUTH}}},
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                            "cookie": {"type": "apiKey", "in": "cookie", "name": "devstack_PORT"}},
        "responses": {
            "Unauthorized": {"description": "No token, or not this dashboard's.",
                             "content": _ERROR_REF},
            "Forbidden": {"description": "A Host other than this server's loopback address, or a "
                                         "cross-origin POST.",
                          "content": _ERROR_REF},
        },
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "Service": _SERVICE,
            "Status": {"type": "object", "required": ["stack", "supervisor", "state", "services"],
                       "properties": {
                           "stack": {"type": "string"},
                           "supervisor": {"type": "object", "properties": {
                               "pid": {"type": ["integer", "null"]},
                               "started_at": {"type": ["string", "null"]},
                               "running": {"type": "boolean"}}},
                           "state": {"enum": ["up", "degraded", "starting", "down", "failed"]},
                           "services": {"type": "array", "items": {"$ref": "#/components/schemas/Service"}}}},
            "LogLine": {"type": "object", "required": ["service", "stream", "line", "ts"],
                        "properties": {"service": {"type": "string"}, "stream": {"type": "string"},
                                       "line": {"type": "string"}, "ts": {"type": "string"}}},
            "Timeline": {"type": "object", "required": ["stack", "started_at", "ready_s", "services",
                                                        "critical_chain"],
                         "properties": {"stack": {"type": "string"}, "started_at": {"type": "string"},
                                        "ready_s": {"type": ["number", "null"]},
                                        "services": {"type": "array", "items": _TIMELINE_SERVICE},
                                        "critical_chain": {"type": "array", "items": {"type": "string"}}}},
        },
    },
}
