"""Normalising flows: x = g(z), log p(x) by the change of variables (course notes, session 1)."""
