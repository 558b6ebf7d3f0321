"""bot/members: members' own permissions and slowmode, and the attachments they send."""
