"""The deterministic sample data (a made-up online shop) and its documented latent structure.

``spec`` holds the structure as data: hidden customer types with their own recency/frequency/monetary
profiles, category tastes and attribute skews, campaigns with known returns on spend and one A/B test with
a known effect, all described in ``SAMPLE_STRUCTURE`` (and ``sample_data/README.md``) so that features
built on the sample can be checked against the truth. ``generate`` draws the files from it:
``generate_sample(out_dir)`` writes six CSVs in canonical column names (the same seed gives the same bytes)
plus ``truth_customer_types.csv``, which is never loaded into the store. ``load`` puts the bundled CSVs in
``sample_data/`` into a store in one transaction (``load_sample(con)``).

``python -m engine.sample [out_dir]`` regenerates the files.
"""

from __future__ import annotations

from engine.sample.generate import generate_sample
from engine.sample.load import load_sample
from engine.sample.spec import SAMPLE_STRUCTURE, SAMPLE_TABLES, TRUTH_FILE
from engine.store import SAMPLE_DIR

__all__ = ["generate_sample", "load_sample", "SAMPLE_STRUCTURE", "SAMPLE_TABLES", "TRUTH_FILE", "SAMPLE_DIR"]
