"""Experiments on a model: replications and estimates, staleness curves, episodes, executors."""
