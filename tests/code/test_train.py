import numpy as np
import pytest

from mlops.pipeline.train import ESTIMATORS, build_pipeline, features_and_target, train


@pytest.fixture
def small_train(params):
    # fast hyper-parameters: these tests check wiring, not quality
    return params.train.model_copy(
        update={"hist_gradient_boosting": {"max_iter": 30}},
    )


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
def test_every_estimator_fits_and_learns_the_signal(params, table_factory, estimator):
    from sklearn.metrics import roc_auc_score

    train_params = params.train.model_copy(
        update={"estimator": estimator, "hist_gradient_boosting": {"max_iter": 30}}
    )
    fit_rows, check_rows = table_factory(rows=3000, seed=1), table_factory(rows=1000, seed=2)
    model = train(fit_rows, params.schema, train_params)
    features, target = features_and_target(check_rows, params.schema)
    assert roc_auc_score(target, model.predict_proba(features)[:, 1]) > 0.75


def test_unknown_and_missing_categories_do_not_crash(params, table_factory, small_train):
    model = train(table_factory(), params.schema, small_train)
    features, _ = features_and_target(table_factory(rows=20, seed=3), params.schema)
    categories = params.schema.categorical or pytest.skip("the schema has no category")
    open_sets = [n for n in categories if not params.schema.features[n].values]
    unseen_into = (open_sets or categories)[0]  # where the service lets unseen values through
    missing_in = categories[-1]
    features = features.astype({unseen_into: object, missing_in: object})
    features.loc[:9, unseen_into] = "NEVER_SEEN"
    features.loc[10:, missing_in] = None
    probability = model.predict_proba(features)[:, 1]
    assert np.isfinite(probability).all()


def test_same_seed_same_model(params, table_factory, small_train):
    table = table_factory()
    features, _ = features_and_target(table, params.schema)
    first = train(table, params.schema, small_train).predict_proba(features)
    second = train(table, params.schema, small_train).predict_proba(features)
    np.testing.assert_array_equal(first, second)


def test_hyperparameters_reach_the_estimator(params, small_train):
    model = build_pipeline(params.schema, small_train)
    assert model.named_steps["model"].max_iter == 30
    assert model.named_steps["model"].random_state == params.train.seed


def test_unknown_estimator_lists_the_known_ones(params):
    bad = params.train.model_copy(update={"estimator": "xgboost"})
    with pytest.raises(ValueError, match="known estimators: hist_gradient_boosting"):
        build_pipeline(params.schema, bad)


def test_misspelt_hyperparameter_names_the_section(params):
    bad = params.train.model_copy(update={"hist_gradient_boosting": {"max_iters": 5}})
    with pytest.raises(ValueError, match=r"train\.hist_gradient_boosting.*max_iters"):
        build_pipeline(params.schema, bad)


def test_single_class_training_window(params, table_factory, small_train):
    table = table_factory().assign(**{params.schema.target: 0})
    with pytest.raises(ValueError, match="only one class"):
        train(table, params.schema, small_train)
