"""The OpenAI rate limiter."""
