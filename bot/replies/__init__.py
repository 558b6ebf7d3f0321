"""The Discord output side: a reply streamed into messages (edited, continued, paced), its working notice and
Stop, writes with retries and nonces, followups, buttons, splitting, the bot's own permissions, voice out."""
