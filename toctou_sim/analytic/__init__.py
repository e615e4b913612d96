"""Closed forms the simulator is checked against: TOCTOU windows, staleness, queues."""
