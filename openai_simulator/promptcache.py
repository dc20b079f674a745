"""Prompt caching, as OpenAI's prompt-caching guide describes it: automatic for prompts
of 1024 tokens or more; a request reuses the longest prefix an earlier request of the
same organisation (here: key) and model computed, counted as 1024 tokens plus 128-token
increments, and reported in `usage.input_tokens_details.cached_tokens`.

Tokens are estimated as characters / 4, so a block is 4096 characters, then 512. Each
block's hash chains the previous one, so a prefix matches only if everything before it
matched. Entries expire after the guide's longest in-memory retention (1 hour); the
table is bounded so a long run cannot grow without limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict

MIN_TOKENS = 1024
BLOCK_TOKENS = 128
CHARS_PER_TOKEN = 4
RETENTION_SECONDS = 3600.0
MAX_ENTRIES = 200_000


class PromptCache:
    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._seen: OrderedDict[int, float] = OrderedDict()  # chained block hash -> expiry

    def cached_tokens(self, scope: tuple, text: str) -> int:
        """Tokens of `text`'s longest cached prefix; then caches every prefix of it."""
        first = MIN_TOKENS * CHARS_PER_TOKEN
        if len(text) < first:
            return 0
        step = BLOCK_TOKENS * CHARS_PER_TOKEN
        now = self._clock()
        digest = hash((scope, text[:first]))
        hashes = [digest]
        for start in range(first, len(text) - step + 1, step):
            digest = hash((digest, text[start : start + step]))
            hashes.append(digest)
        matched = 0
        for digest in hashes:
            expiry = self._seen.get(digest)
            if expiry is None or expiry < now:
                break
            matched += 1
        for digest in hashes:
            self._seen[digest] = now + RETENTION_SECONDS
            self._seen.move_to_end(digest)
        while len(self._seen) > MAX_ENTRIES:
            self._seen.popitem(last=False)
        return 0 if matched == 0 else MIN_TOKENS + (matched - 1) * BLOCK_TOKENS
