"""bot/providers/agentverse: payload parsing and the poller."""
