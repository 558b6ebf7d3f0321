"""The Discord-free core: conversations and their turns, the gate (server rules, cooldowns, limits), leases and
locks, the transcript's recording, presence. Imports providers, the store and config; never discord."""
