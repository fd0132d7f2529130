"""Benchmarks: each module's ``run()`` starts what it needs and returns its figures.

``make bench`` (``python -m bench``) runs them all and prints one table.
They are not timed tests: they report, they do not assert.
"""
