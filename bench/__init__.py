"""Benchmark suite for webpy: runs webpy and peer servers side by side on loopback.

Entry point: ``python bench/run.py`` (see ``--help``). Nothing here is imported by webpy itself.
"""
