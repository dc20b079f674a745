"""The OpenAI app: listing, key verification, client factory, connect/reconnect/model access.

Tests reach OpenAI only through `openai_simulator` over real HTTP, so the real SDK runs.
"""
