"""The `devstack` command line: one module per command or command family (group.py holds the click
group they hang on), the status table, and the only place that prints errors and picks exit
codes.
"""
