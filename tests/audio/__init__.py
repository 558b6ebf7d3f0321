"""bot/audio: voice notes converted within their budgets, hostile files refused, Convai's spoken answers bounded."""
