"""Machinery: the DVC stages (validate, prepare, train, evaluate), getting the data, and the
record of a `dvc repro` run. Each stage is a pure function plus a thin `main`. No need to edit:
your data loading and estimators live in `mlops.yours`."""
