"""pytest's entry point: the shared fixtures and hooks live in the support package (tests/support/fixtures.py)."""

pytest_plugins = ("tests.support.fixtures",)
