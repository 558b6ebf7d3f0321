"""bot/providers: each vendor's bridge against its emulator, SSE, errors, connections, bounds, parsers."""
