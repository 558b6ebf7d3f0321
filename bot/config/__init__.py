"""Settings: one frozen `Settings` built from the environment and `.env` (settings, scale), the errors that name
the variable to fix, and `python -m bot check` (which alone opens the store)."""
