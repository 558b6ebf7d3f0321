"""bot/ops: health, metrics, loop lag, and logs that hold no secret."""
