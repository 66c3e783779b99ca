"""Side effects on OS processes: spawning services (spawn), a short-lived command in its own group
(oneshot), process trees (tree), the subreaper that keeps what services start and reaps it
(reaper, with watcher and lineage), what a killed supervisor left (leftovers), CPU and memory
(usage), who holds a port (ports, owners), and exit codes in words.
"""
