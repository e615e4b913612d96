"""What a replication measures: counters, histograms, the guide's metrics, error budgets."""
