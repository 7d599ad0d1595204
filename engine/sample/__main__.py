"""``python -m engine.sample [out_dir]``: write the sample CSVs (default: the bundled folder)."""

from engine.sample.generate import main

if __name__ == "__main__":
    raise SystemExit(main())
