"""Supervising: states and status snapshots, pure policy (restarts, backoff, probe verdicts), one
service's lifecycle, the supervisor and its composition root (app), the clock seam, and forking
the background supervisor.
"""
