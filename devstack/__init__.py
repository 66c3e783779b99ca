"""devstack: start a multi-service development stack with one command and keep it running."""

__version__ = "0.1.0"
