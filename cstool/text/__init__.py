"""Text mechanics: tokenising, lexicons, splicing, keyed randomness, code-switching statistics."""
