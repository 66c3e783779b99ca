"""`python -m devstack`: the console entry point, `entry.main`."""

from devstack.entry import main

main()
