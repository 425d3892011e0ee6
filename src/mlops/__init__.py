"""ML CI/CD template package: pipeline stages, reports and (later) serving and monitoring."""

__version__ = "0.1.0"
