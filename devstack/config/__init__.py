"""What a stack is: the frozen specs, read from stack.toml (stackfile, values, probes, tables) or a
Procfile, found like git finds its repository (locate, load); durations as stack.toml writes
them.
"""
