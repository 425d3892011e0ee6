"""Machinery: the pull-request report (metrics against the base branch, params and data
changes, plots) and the quality gate that decides whether a branch may merge. No need to
edit: the gate's rules are params.yaml's `gate` section."""
