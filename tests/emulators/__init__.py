"""Loopback emulators of Discord and the five vendors, each with its self-tests beside it (test_*.py)."""
