"""Foundations every layer may use: durations and rates, random variates, input limits."""
