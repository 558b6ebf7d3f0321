"""Settings: one frozen `Settings` built from the environment and `.env` (settings; scale and provider_settings for
their sections; parsing for one variable's value; secret for credentials), the errors that name the variable to
fix, and `python -m bot check` (which alone opens the store)."""
