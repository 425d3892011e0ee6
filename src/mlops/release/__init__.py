"""Machinery: from a trained model to a running deployment: import into BentoML, build,
serve locally, smoke-test, containerize, deploy to Kubernetes, record the release. Runs in
CI and on your machine (`make bento`, `make serve`, `make deploy`). No need to edit."""
