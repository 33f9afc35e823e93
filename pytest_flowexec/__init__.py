"""pytest plugin for flowexec: registered through the ``pytest11`` entry point as ``flowexec``.

Nothing here imports the engine: a session whose tests do not use the plugin pays
only for loading this small package (see benchmarks/bench_plugin.py).
"""
