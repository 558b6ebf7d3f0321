"""bot/core: the Discord-free core, through the running bot: server rules, leases, the reply cap, exports, repeats."""
