"""Crash signatures: why a service died, in one line, from the known fatal lines of its own
output. One table per ecosystem (python, node, jvm, postgres, generic), joined in diagnose.py;
a new signature touches one small file."""
