"""Imported once by tests/forked.py's forkserver, before it forks the runs."""

from tests.forked import warm

warm()
