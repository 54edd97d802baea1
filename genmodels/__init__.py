"""genmodels: VAEs, normalising flows and GANs from the course notes, in plain torch."""
