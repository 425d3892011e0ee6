"""The example forks of ``tests/adapt``: what each one writes in the three files it edits.

Each fork is the template adapted to other data exactly as the README says: its own
``src/mlops/yours/dataset.py`` (``dataset``), the ``schema`` and ``prepare`` sections of
``params.yaml`` and ``serve.name``, and its data under ``data/`` (``write_data``). They are
chosen to break what a test could silently assume of the default data: other column names,
types, sizes, dates, label balance and granularity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Fork:
    name: str
    dataset: Path  # becomes src/mlops/yours/dataset.py
    schema: str  # params.yaml's schema section, as the fork writes it
    prepare: str  # params.yaml's prepare section
    serve_name: str
    write_data: Callable[[Path], None]  # writes the raw files into data/
    features: list[str]

    def __str__(self) -> str:  # the pytest id
        return self.name


# --------------------------------------------------------------------------- customer churn
CHURN_ROWS = 20000


def write_churn_data(raw: Path, rows: int = CHURN_ROWS, seed: int = 7) -> None:
    """A customer-churn table: 20,000 snapshots over 2023 in one CSV, with missing values, a
    learnable signal made of thresholds and interactions, as real churn data has them (a
    third support call, a short tenure, charges past a step, a basic plan without autopay
    make churn likelier: a booster beats the straight-line baseline on it), and a price rise
    plus more support calls from November on, so the production window drifts on two of six
    features."""
    rng = np.random.default_rng(seed)
    at = (
        pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.uniform(0, 365, rows), unit="D")
    ).sort_values()
    late = np.asarray(at >= pd.Timestamp("2023-11-01"))
    plan = rng.choice(["basic", "standard", "premium"], rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west", "central", "islands"], rows)
    region = region.astype(object)
    region[rng.random(rows) < 0.02] = None
    autopay = rng.choice(["Y", "N"], rows, p=[0.6, 0.4])
    tenure = rng.integers(0, 121, rows)
    charges = rng.normal(70, 20, rows).clip(10, 200) + np.where(late, 30, 0)
    calls = rng.poisson(np.where(late, 4.0, 1.5)).astype(float)
    # Thresholds and an interaction, as churn data has them: a straight line through these
    # is what the logistic-regression baseline draws, and the booster must beat it.
    logit = (
        -2.4
        + np.where(calls >= 3, 1.2, 0.0)  # the third support call is when customers give up
        + np.where((calls >= 3) & (tenure < 24), 1.8, 0.0)  # above all the new ones
        + np.where(tenure < 12, 1.2, 0.0)  # new customers leave, settled ones stay
        + np.where(charges > 95, 1.2, 0.0)  # a price step, not a slope
        + np.where((plan == "basic") & (autopay == "N"), 1.4, 0.0)
        + np.where(plan == "premium", -0.6, 0.0)
    )
    churn = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "Yes", "No").astype(object)
    charges[rng.random(rows) < 0.03] = np.nan
    calls[rng.random(rows) < 0.02] = np.nan
    churn[rng.random(rows) < 0.03] = None  # the month after the snapshot is not over yet
    raw.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in rng.permutation(rows)],
            "snapshot_at": at.strftime("%Y-%m-%d %H:%M:%S"),
            "plan": plan,
            "region": region,
            "autopay": autopay,
            "tenure_months": tenure,
            "monthly_charges": charges.round(2),
            "support_calls": calls,
            "churn": churn,
        }
    ).to_csv(raw / "customers.csv", index=False)


CHURN = Fork(
    name="churn",
    dataset=HERE / "fork" / "dataset.py",
    schema="""\
schema:
  target: churned
  time: snapshot_at
  positive_label: churned
  negative_label: stayed
  features:
    plan: {type: category, values: [basic, standard, premium]}
    region: {type: category, nullable: true, max_missing: 0.05, example: north,
             weak: "no effect on churn in this synthetic data; kept as the nullable open category"}
    autopay: {type: category, values: ["yes", "no"]}
    tenure_months: {type: int, min: 0, max: 600}
    monthly_charges: {type: float, min: 0, max: 1000, nullable: true, max_missing: 0.1}
    support_calls: {type: int, min: 0, max: 100, nullable: true, max_missing: 0.1}
  forbidden: [customer_id, churn]      # an identifier; the raw outcome
  slices:
    plan: values
    region: values
""",
    prepare="""\
prepare:
  train_start: "2023-01-01"
  test_start: "2023-09-01"
  production_start: "2023-11-01"
""",
    serve_name="customer-churn",
    write_data=write_churn_data,
    features=["plan", "region", "autopay", "tenure_months", "monthly_charges", "support_calls"],
)


# --------------------------------------------------------------------------- hourly air quality
def write_air_data(raw: Path, seed: int = 11) -> None:
    """Hourly readings of two stations over 2021-2022 (17,520 hours each), one CSV per
    station: vehicles counted in the hour, temperature, humidity (2% missing: sensor off),
    wind, and the particulate level of the next hour, unknown for the last hour and a few
    others. More traffic, a calm hour and cold, humid air raise it (thresholds and an
    interaction: a booster beats the straight-line baseline on it); the limit splits the
    hours about in half."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range("2021-01-01 00:00", "2022-12-31 23:00", freq="h")
    n = len(hours)
    hour = np.asarray(hours.hour)
    season = np.cos(2 * np.pi * (np.asarray(hours.dayofyear) - 15) / 365.25)  # 1 in January
    rush = np.exp(-(((hour - 8) / 2.0) ** 2)) + np.exp(-(((hour - 17) / 2.5) ** 2))
    raw.mkdir(parents=True, exist_ok=True)
    for station, traffic in (("north", 900), ("harbour", 500)):
        vehicles = rng.poisson(traffic * (0.15 + rush))
        temperature = 12 - 10 * season + 4 * np.sin(np.pi * (hour - 9) / 12) + rng.normal(0, 3, n)
        humidity = np.clip(70 + 10 * season + rng.normal(0, 12, n), 5, 100)
        wind = rng.gamma(2.0, 2.0, n)
        # Thresholds and an interaction (a calm night traps particles; cold, humid air holds
        # them): what a straight line, the logistic-regression baseline, cannot draw.
        score = (
            vehicles / traffic
            - 1.4 * (wind > 3.0)
            + 1.2 * ((temperature < 6) & (humidity > 75))
            - 0.03 * temperature
        ) + rng.normal(0, 0.45, n)
        pm25 = 25 + 8 * (score - np.median(score))
        humidity[rng.random(n) < 0.02] = np.nan
        pm25[rng.random(n) < 0.01] = np.nan
        pm25[-1] = np.nan  # the next hour is not measured yet
        pd.DataFrame(
            {
                "time": hours.strftime("%Y-%m-%dT%H:00"),
                "vehicles": vehicles,
                "temperature_c": temperature.round(1),
                "humidity_pct": humidity.round(1),
                "wind_ms": wind.round(2),
                "pm25_next_hour": pm25.round(1),
            }
        ).to_csv(raw / f"{station}.csv", index=False)


AIR = Fork(
    name="air",
    dataset=HERE / "fork_air" / "dataset.py",
    schema="""\
schema:
  target: polluted
  time: measured_at
  positive_label: polluted
  negative_label: clean
  features:
    vehicles: {type: int, min: 0, max: 20000}
    temperature_c: {type: float, min: -40, max: 50}
    humidity_pct: {type: float, min: 0, max: 100, nullable: true, max_missing: 0.05}
    wind_ms: {type: float, min: 0, max: 60}
    hour_of_day: {type: int, min: 0, max: 23,
                  weak: "acts only through vehicles (rush hours), which the model sees"}
    station: {type: category, values: [north, harbour]}
  forbidden: [pm25_next_hour]          # the measured outcome
  slices:
    station: values
    hour_of_day: [0, 6, 12, 18, 24]
""",
    prepare="""\
prepare:
  train_start: "2021-01-01"
  test_start: "2022-03-01"
  production_start: "2022-09-01"
""",
    serve_name="air-quality",
    write_data=write_air_data,
    features=["vehicles", "temperature_c", "humidity_pct", "wind_ms", "hour_of_day", "station"],
)

FORKS = [CHURN, AIR]
