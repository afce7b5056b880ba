"""The data both sides of ``bench_monitoring.py`` compare: a reference and a current Parquet file with known drift.

Imported by Keel's side (``bench_monitoring.py``) and read by Evidently's (``evidently_anchor.py``, another venv), so
it needs only numpy and pyarrow. Columns are ``num_00..`` (float64, ten distribution families with varied
parameters, no nulls) then ``cat_00..`` (strings with 5 to 50 levels, Zipf-like frequencies). The current file is
drawn again from the same distributions (another seed, so clean columns differ by sampling noise only) except in the
drifted columns (:func:`drifted_columns`): numeric ones are shifted by 0.5 standard deviation or spread 1.8x
around their mean (normalized Wasserstein about 0.5, against the 0.1 threshold), categorical ones draw their levels
with the frequencies reversed (Jensen-Shannon distance 0.3 or more, against 0.1). Clean columns score around 0.01
or less at the benchmark's sizes, so any sound implementation of the default tests gives the known answer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["CHUNK_ROWS", "column_names", "drifted_columns", "generate"]

CHUNK_ROWS = 250_000  # rows generated and written at a time (one row group each)
_CALIBRATION_ROWS = 200_000  # sample that fixes each numeric column's mean and standard deviation for the drift

Sampler = Callable[[np.random.Generator, int], np.ndarray]


def column_names(n_numeric: int, n_categorical: int) -> list[str]:
    """``["num_00", ..., "cat_00", ...]``, numeric columns first."""
    return [f"num_{i:02d}" for i in range(n_numeric)] + [f"cat_{i:02d}" for i in range(n_categorical)]


def drifted_columns(n_numeric: int, n_categorical: int) -> list[str]:
    """The columns whose distribution differs in the current file: 12 of 40 numeric and 3 of 10 categorical."""
    return ([f"num_{i:02d}" for i in range(n_numeric) if i % 10 in (1, 4, 7)]
            + [f"cat_{i:02d}" for i in range(n_categorical) if i % 3 == 1])


def _sampler(i: int) -> Sampler:
    """Column ``i``'s distribution: family ``i % 10``, parameters varied by ``i // 10``."""
    k = i // 10 + 1
    families: list[Sampler] = [
        lambda rng, n: rng.normal(10.0 * k, 2.0 * k, n),
        lambda rng, n: rng.lognormal(0.5 * k, 0.4 + 0.1 * k, n),
        lambda rng, n: rng.exponential(2.0 * k, n),
        lambda rng, n: rng.uniform(-3.0 * k, 5.0 * k, n),
        lambda rng, n: rng.gamma(1.5 + k, 1.5, n),
        lambda rng, n: rng.beta(2.0, 3.0 + k, n),
        lambda rng, n: rng.standard_t(3.0 + k, n) * 4.0,
        lambda rng, n: np.where(rng.random(n) < 0.3, rng.normal(-5.0, 1.0, n), rng.normal(3.0 * k, 2.0, n)),
        lambda rng, n: rng.poisson(15.0 * k, n).astype(np.float64),  # integral values, still > 5 distinct
        lambda rng, n: rng.laplace(100.0 * k, 7.0, n),
    ]
    return families[i % 10]


def _levels(j: int, n_categorical: int) -> tuple[np.ndarray, np.ndarray]:
    """Column ``j``'s level names (5 to 50 of them across the columns) and their reference probabilities."""
    count = 5 + round(45 * j / (n_categorical - 1)) if n_categorical > 1 else 10
    names = np.array([f"c{j:02d}_{v:03d}" for v in range(count)])
    weights = 1.0 / np.arange(1, count + 1) ** (0.6 + 0.1 * (j % 5))
    return names, weights / weights.sum()


def generate(out_dir: str | Path, *, rows: int, n_numeric: int = 40, n_categorical: int = 10,
             seed: int = 0) -> dict[str, Path]:
    """Write ``reference.parquet`` and ``current.parquet`` (``rows`` rows each) under ``out_dir``; return their paths.

    The same arguments always give the same files; the drifted columns are :func:`drifted_columns`.
    """
    if rows < 1 or n_numeric < 0 or n_categorical < 0 or n_numeric + n_categorical < 1:
        raise ValueError("rows must be >= 1 and there must be at least one column")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = column_names(n_numeric, n_categorical)
    drifted = set(drifted_columns(n_numeric, n_categorical))
    samplers = [_sampler(i) for i in range(n_numeric)]
    moments = []
    for i, sample in enumerate(samplers):
        calibration = sample(np.random.default_rng([seed, 99, i]), _CALIBRATION_ROWS)
        moments.append((float(calibration.mean()), float(calibration.std())))
    levels = [_levels(j, n_categorical) for j in range(n_categorical)]
    schema = pa.schema([(n, pa.float64()) for n in names[:n_numeric]] + [(n, pa.string()) for n in names[n_numeric:]])

    def chunk(rng: np.random.Generator, size: int, current: bool) -> pa.Table:
        cols: list[pa.Array] = []
        for i, sample in enumerate(samplers):
            values = sample(rng, size)
            if current and names[i] in drifted:
                mean, std = moments[i]
                values = values + 0.5 * std if i % 2 else mean + (values - mean) * 1.8
            cols.append(pa.array(values, pa.float64()))
        for j, (level_names, probs) in enumerate(levels):
            if current and names[n_numeric + j] in drifted:
                probs = probs[::-1]
            codes = rng.choice(len(level_names), size=size, p=probs).astype(np.int32)
            cols.append(pa.DictionaryArray.from_arrays(codes, level_names).cast(pa.string()))
        return pa.Table.from_arrays(cols, schema=schema)

    paths = {"reference": out / "reference.parquet", "current": out / "current.parquet"}
    for key, stream in (("reference", 1), ("current", 2)):
        rng = np.random.default_rng([seed, stream])
        with pq.ParquetWriter(paths[key], schema) as writer:
            done = 0
            while done < rows:
                size = min(CHUNK_ROWS, rows - done)
                writer.write_table(chunk(rng, size, key == "current"), row_group_size=size)
                done += size
    return paths
