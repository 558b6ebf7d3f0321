"""Whole journeys as members make them, one feature (extension) per file: real discord.py, emulators, both stores."""
