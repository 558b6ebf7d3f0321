"""Shared test code: the bot process harness, fixtures, databases and their faults, journeys members make, samples."""
