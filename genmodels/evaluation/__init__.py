"""Held-out metrics, estimators and known-density theory that judge a trained model."""
