"""The OpenAI integration: the app (listing, connect, Model access, Assistants and Usage
tabs), the "Ask OpenAI assistant" workflow action, and the runtime that calls OpenAI.
docs/openai-runtime.md and docs/assistant-action.md map its modules.

Tests reach OpenAI only through `openai_simulator` over real HTTP, so the real SDK runs.
"""
