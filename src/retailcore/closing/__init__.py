"""The period close: a checklist that measures each condition of a closed month, then the lock."""
