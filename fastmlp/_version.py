"""The version of fastmlp (read by the build too: keep it a plain literal)."""

__version__ = "0.1.0"
