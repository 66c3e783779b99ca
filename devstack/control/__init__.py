"""The control channel between the CLI and a running supervisor: where a stack keeps its state
(paths), the wire format (protocol), the Unix-socket server and the small synchronous client.
"""
