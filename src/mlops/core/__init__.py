"""Machinery shared by every area: the typed params.yaml loader, the user-facing errors, the
command pattern, git and GitHub calls, and the model file format. No need to edit."""
