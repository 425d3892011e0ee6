"""Machinery: what the bento ships and runs, the BentoML service, its request schema (from
params.yaml), the compiled fast path and the prediction log. Nothing else of the package is
in the bento (tests/service/test_bento_contents.py). No need to edit."""
