"""The OpenAI app's pages, one module per page family (urls.py points at each view):
`connect` (the connect dialog, Reconnect, Model access), `assistants` (Assistants tab),
`usage` (Usage tab) and `test_panel` (the builder's Test section: record search, Test).
Views check access first and call the package's verbs; none holds logic another
module needs."""
