"""Statistics of estimates: intervals, bounds for rates that saw no event, stopping rules."""
