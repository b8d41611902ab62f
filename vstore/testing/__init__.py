"""Test harness shipped with vstore: the backend contract suite.

Import it from a test module and subclass :class:`BackendContract` with a
``backend`` fixture, to check a new backend against the same promises every
built-in backend keeps.
"""
