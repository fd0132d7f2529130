"""Hosts: a Host's profile compared with its Docker engine, and rendered as files.

:mod:`reconciler.hosts.drift` turns a profile and an engine's observed state
into differences; :mod:`reconciler.hosts.render` turns a profile into the
files the host should have. Both are pure.
"""
