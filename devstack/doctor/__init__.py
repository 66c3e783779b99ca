"""Finding out what is wrong: the pre-flight checks, one module per check family (checks runs
them), requirements files against a venv, who really answers a probe (listeners), and crash
signatures per ecosystem (signatures/).
"""
