"""Side effects on OS processes: spawning services (spawn), a short-lived command in its own group
(oneshot), process trees and leftovers, CPU and memory, who holds a port (ports, owners), and
exit codes in words.
"""
