"""The design review: decision logic, tables, charts and the HTML page."""
