"""The OpenAI app's pages."""
