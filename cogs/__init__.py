"""Discord adapters: slash commands, thread messages and clicks become calls into the core."""
