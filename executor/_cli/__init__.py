"""The ``flowexec`` command's parts, one concept per module.

``executor/cli.py`` is the entry point and only parses arguments; everything here
is imported when a command runs, so ``import executor`` never pays for it.
"""
