"""A service's output: framing into lines, the kept log files (writer, reader, follower, --since),
the hub that fans lines out, the terminal sink, the 'name |' prefix and terminal escapes (ansi).
"""
