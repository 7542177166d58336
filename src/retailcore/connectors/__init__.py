"""Connectors: the channels and systems outside retailcore's own API (Shopify first), their encrypted
secrets, and the sync log of every message in or out, with retries, dead letters and replay."""
