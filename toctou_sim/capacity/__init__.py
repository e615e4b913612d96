"""Capacity answers: load over time, headroom, and global sensitivity."""
