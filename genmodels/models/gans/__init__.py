"""Generative adversarial networks: one mechanism, the loss pair of each objective passed in."""
