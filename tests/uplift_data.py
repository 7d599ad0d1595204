"""Randomised e-mail tests with a known uplift structure, written as files shaped like real exports, and
loaded through the real upload path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import engine

REGIONS = ("North", "South", "East", "West")
CHANNELS = ("Web", "Phone", "Multichannel")


def email_test(
    rows: int = 6000,
    responding_region: str | None = "North",
    group_uplift: float = 0.25,
    everyone_uplift: float = 0.0,
    base_rate: float = 0.10,
    treated_share: float = 0.5,
    seed: int = 7,
    with_customer_ids: bool = False,
) -> pd.DataFrame:
    """A Hillstrom-shaped test: one row per mailed (or held-out) customer, attributes, a 0/1 ``visit`` and a
    numeric ``spend``. Only customers of ``responding_region`` respond to the e-mail (by ``group_uplift``);
    ``everyone_uplift`` adds the same effect for everyone. Arms are assigned at random."""
    rng = np.random.default_rng(seed)
    treated = rng.random(rows) < treated_share
    region = rng.choice(REGIONS, rows)
    frame = pd.DataFrame(
        {
            "recency": rng.integers(1, 13, rows),
            "history": np.round(rng.gamma(2.0, 120.0, rows), 2),
            "mens": rng.integers(0, 2, rows),
            "region": region,
            "channel": rng.choice(CHANNELS, rows),
            "segment": np.where(treated, "Mens E-Mail", "No E-Mail"),
        }
    )
    rate = base_rate + treated * everyone_uplift
    if responding_region is not None:
        rate = rate + treated * (region == responding_region) * group_uplift
    visit = rng.random(rows) < rate
    frame["visit"] = visit.astype(int)
    frame["spend"] = np.where(visit & (rng.random(rows) < 0.3), np.round(rng.gamma(2.0, 40.0, rows), 2), 0.0)
    if with_customer_ids:
        frame.insert(0, "customer_id", [f"C{i:05d}" for i in range(1, rows + 1)])
    return frame


def load_test_file(
    con, path: Path, experiment_id: str = "mail", overrides: dict[str, str] | None = None
) -> None:
    """Load a test file into the experiments table the way the Data page and ``segmint load`` do."""
    staged = engine.read_upload(con, path, path.name, limits=engine.COMMAND_LINE_LIMITS)
    try:
        mapping = engine.suggest_mapping(con, staged, "experiments")
        chosen = {
            "experiment_id": f":{experiment_id}",
            "variant": "segment",
            "exposures": "",
            "converted": "",
        }
        if "customer_id" not in pd.read_csv(path, nrows=1).columns:
            chosen["customer_id"] = ""
        chosen.update(overrides or {})
        mapping = engine.apply_overrides(con, mapping, chosen, staged)
        engine.load(con, staged, mapping, "replace", accept_rejects=True, confirm=True)
    finally:
        engine.discard(con, staged)


def store_with_test(con, tmp_path: Path, frame: pd.DataFrame, experiment_id: str = "mail") -> Path:
    """Write ``frame`` as a CSV export and load it; returns the file."""
    path = tmp_path / f"{experiment_id}.csv"
    frame.to_csv(path, index=False)
    load_test_file(con, path, experiment_id)
    return path
