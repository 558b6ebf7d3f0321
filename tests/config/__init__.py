"""bot/config: settings read, validated and named in errors; `python -m bot check`."""
