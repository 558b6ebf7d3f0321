"""bot/replies: streamed replies, splitting, followups, the REST budget, embeds."""
