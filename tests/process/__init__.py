"""The process (bot/app.py, runner, sharding): restarts, shard processes, rolling deploys, Discord outages."""
