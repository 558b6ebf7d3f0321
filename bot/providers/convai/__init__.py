"""Convai characters: the provider (form-data turns, voice in and out) and its wire format."""
