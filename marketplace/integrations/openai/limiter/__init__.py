"""The OpenAI rate limiter: `window.py` keeps every key's sliding window in Redis (its
scripts in `lua/`), `policy.py` decides how a call uses it (when it waits, where, and
for how long)."""
