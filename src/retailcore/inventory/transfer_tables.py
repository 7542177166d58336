"""Placeholder: this module's tables are being written."""
