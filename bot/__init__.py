"""Provider bridge: a Discord bot that lets members talk to hosted AI chat services in threads."""
