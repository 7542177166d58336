"""Pricing: the tax engine every sales channel shares, and price lists per channel, store and group."""
