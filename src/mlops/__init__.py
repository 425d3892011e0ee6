"""ML CI/CD template package: the fork's code in yours/, the machinery in one folder per area."""

__version__ = "0.1.0"
