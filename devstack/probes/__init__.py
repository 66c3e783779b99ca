"""Health probes: ask a service once whether it is ready, and say why not.

One module per probe kind (`http`, `tcp`, `cmd`, `log`), and nothing around them:
no loops, no intervals, no retries, no state. The service lifecycle decides when to probe and
what a run of results means; each call is one question with one answer, a `ProbeResult`
(result.py). A failed probe is a result, never an exception: refused connections, timeouts,
bad statuses, unexpected bodies and failing commands all come back as `ok=False` with a
one-line `error` written for the user.

Probes may run every few milliseconds while a service starts, so they stay cheap: an HTTP
probe is one GET on h11 (http_get.py, imported at the first HTTP probe), literal addresses are
never resolved, and `localhost` is dialled as 127.0.0.1 and ::1 directly, both at once,
because a dev server bound to one family only is a classic "it says it is running but I
cannot reach it" failure.
"""
