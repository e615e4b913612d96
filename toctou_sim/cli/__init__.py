"""The ``toctou-sim`` command line: one module per command family, parsing and printing only."""
