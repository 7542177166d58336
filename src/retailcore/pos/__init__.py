"""Point of sale: terminals, sessions with a float, offline sales synced in batches, close as a check."""
