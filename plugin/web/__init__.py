"""The web layer: the webhook routes, the operator dashboard, /metrics, and serving them."""
