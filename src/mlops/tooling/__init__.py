"""Machinery for the repository itself: `make rename` (make the template your project) and
cloud credentials for the DVC remote in GitHub Actions (OIDC). No need to edit."""
