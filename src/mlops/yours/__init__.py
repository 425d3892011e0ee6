"""YOURS: the only Python a fork edits.

- :mod:`dataset` reads your raw files into one modelling table (FIXME::REQUIRED);
- :mod:`estimators` holds the estimators ``train.estimator`` may name (add yours).

Everything else under ``src/mlops/`` is the template's machinery: pipeline stages, serving,
release, monitoring, the pull-request report and CI tooling. ``params.yaml`` configures it.
"""
