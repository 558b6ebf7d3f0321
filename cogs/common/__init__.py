"""Helpers shared by the cogs: opening conversations, running turns into replies, members' checks, private
answers, attachments as input, and the wording members read. No cog's own `setup()` lives here."""
