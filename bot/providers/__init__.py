"""Vendor API clients. Each knows one HTTP API and nothing of Discord; all yield the same events."""
