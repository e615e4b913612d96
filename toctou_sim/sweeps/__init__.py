"""Parameter sweeps: many configurations x strategies x replications, on any executor, resumable."""
