"""The fast engine: which models qualify, the compiled event kernel and its driver."""
