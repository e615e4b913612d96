"""The design review: the verdict (``verdict``), tables (``tables``), charts (``plots``, ``charts``),
the HTML pages from Jinja2 templates (``page``, ``templates/``) and ``review.report`` wiring them."""
