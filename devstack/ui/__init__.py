"""The dashboard (`devstack ui`): a process of its own, a client of the supervisor's control
socket, serving a live page of the stack on loopback — the ASGI app and its guard, the event feed,
the buttons' actions, the OpenAPI description, and the static page (static/: no build step).
Starlette and uvicorn are imported here only: neither the supervisor nor `status` loads them.
"""
