"""Sphinx extensions of the book build, loaded by ``_config.yml`` (``sphinx.local_extensions``)."""
