"""The Webhooks app: a signed outbound "Send a webhook" action and an inbound "Webhook
received" trigger, built only on the seams (docs/webhooks.md, "How this package plugs
in"). Tests reach the outside world through a real local HTTP server."""
