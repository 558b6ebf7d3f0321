"""What members bring from Discord: their own permissions checked for what the bot does for them, and the
attachments they send, read within a bound."""
