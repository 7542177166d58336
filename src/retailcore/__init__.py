"""retailcore: one transaction model for retail (POS, eCommerce, marketplaces, stock, payments, books)."""

__version__ = "0.1.0"
