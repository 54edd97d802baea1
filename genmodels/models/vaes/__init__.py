"""Variational autoencoders: the ELBO, its estimators, decoders' likelihoods, IAF posteriors."""
