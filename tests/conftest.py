"""Test configuration shared by every run (in the source tree or outside it)."""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: long-running; deselected by default (pyproject.toml), run with -m slow")
