"""Continual learning: replay config, task kinds, the learner, buffer, adapters, forgetting metrics, plots."""
