"""Fetch.ai Agentverse AI Engine: the provider, its wire format and token refresh, and the poller that drives
every open session's `GET /session/{id}/new-messages`."""
