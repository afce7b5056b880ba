"""Drift statistics against SciPy's references, Evidently's default tests, and the dataset-level verdict."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from keel.errors import InvalidInput
from keel.monitoring import drift_stats as ds
from keel.monitoring.drift import (
    STATTESTS,
    column_drift,
    dataset_drift,
    drift_by_window,
    prediction_drift,
)

SIZES = [(5, 5), (7, 13), (300, 1000), (1000, 1000), (12_000, 15_001)]


def _samples(n: int, m: int, seed: int = 0, shift: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.sort(rng.normal(size=n)), np.sort(rng.normal(shift, 1.2, size=m))


def _slow_psi(ref: np.ndarray, cur: np.ndarray) -> float:
    """PSI the obvious way: shares per bin, Evidently's fill for empty bins, one term per bin."""
    def shares(counts: np.ndarray) -> list[float]:
        total = sum(counts)
        raw = [c / total for c in counts]
        smallest = min(s for s in raw if s > 0)
        fill = smallest / 1e6 if smallest <= 0.0001 else 0.0001
        return [s if s > 0 else fill for s in raw]

    total = 0.0
    for r, c in zip(shares(ref), shares(cur), strict=True):
        total += (r - c) * math.log(r / c)
    return total


# --- statistics against SciPy -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "m"), SIZES)
def test_ks_matches_scipy(n: int, m: int) -> None:
    a, b = _samples(n, m)
    statistic, p_value = ds.ks_2samp_sorted(a, b)
    expected = stats.ks_2samp(a, b)  # "auto": exact up to 10,000, asymptotic above, like ours
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_ks_with_ties_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a = np.sort(rng.integers(0, 10, 20_000).astype(float))
    b = np.sort(rng.integers(0, 11, 30_000).astype(float))
    statistic, p_value = ds.ks_2samp_sorted(a, b)
    expected = stats.ks_2samp(a, b)
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize(("n", "m"), [*SIZES, (3, 1), (1, 4), (999, 1001)])
def test_wasserstein_matches_scipy(n: int, m: int) -> None:
    a, b = _samples(n, m, seed=n + m)
    assert ds.wasserstein_sorted(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-10)


def test_wasserstein_with_ties_matches_scipy() -> None:
    rng = np.random.default_rng(4)
    a = np.sort(rng.integers(0, 4, 3001).astype(float))
    b = np.sort(rng.integers(1, 6, 2000).astype(float))
    assert ds.wasserstein_sorted(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-10)


def test_normed_wasserstein_score_divides_by_reference_std() -> None:
    a, b = _samples(5000, 4000, seed=5)
    result = column_drift(a, b)
    assert result.stattest == "wasserstein"
    expected = stats.wasserstein_distance(a, b) / max(np.std(a), 0.001)
    assert result.score == pytest.approx(expected, rel=1e-10)
    assert result.detail["reference_std"] == pytest.approx(np.std(a), rel=1e-12)


@pytest.mark.parametrize(("n", "m"), SIZES)
def test_sturges_bins_and_counts_match_numpy(n: int, m: int) -> None:
    a, b = _samples(n, m)
    edges = ds.sturges_edges(min(a[0], b[0]), max(a[-1], b[-1]), n + m)
    expected = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
    np.testing.assert_array_equal(edges, expected)
    np.testing.assert_array_equal(ds.histogram_sorted(a, edges), np.histogram(a, expected)[0])
    np.testing.assert_array_equal(ds.histogram_sorted(b, edges), np.histogram(b, expected)[0])


def test_jensenshannon_on_numeric_uses_shared_sturges_bins_like_scipy() -> None:
    a, b = _samples(3000, 2000, seed=6)
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
    expected = distance.jensenshannon(np.histogram(a, edges)[0] / a.size, np.histogram(b, edges)[0] / b.size)
    result = column_drift(a, b, stattest="jensenshannon")
    assert result.score == pytest.approx(expected, rel=1e-10)
    assert result.detail["bins"] == pytest.approx(edges.tolist())


def test_psi_on_numeric_matches_the_obvious_formula() -> None:
    a, b = _samples(3000, 2000, seed=7, shift=1.5)  # shifted enough that some bins are empty on one side
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
    ref_counts, cur_counts = np.histogram(a, edges)[0], np.histogram(b, edges)[0]
    assert 0 in ref_counts or 0 in cur_counts
    result = column_drift(a, b, stattest="psi")
    assert result.score == pytest.approx(_slow_psi(ref_counts, cur_counts), rel=1e-10)
    assert result.drifted


def test_categorical_statistics_match_scipy() -> None:
    rng = np.random.default_rng(8)
    ref = pd.Series(rng.choice(list("abcde"), 900, p=[0.4, 0.3, 0.15, 0.1, 0.05]))
    cur = pd.Series(rng.choice(list("abcde"), 700, p=[0.3, 0.3, 0.2, 0.1, 0.1]))
    keys = list("abcde")
    rc = ref.value_counts().reindex(keys).to_numpy()
    cc = cur.value_counts().reindex(keys).to_numpy()

    chi = column_drift(ref, cur, stattest="chisquare")
    expected_chi = stats.chisquare(cc, rc * cc.sum() / rc.sum())
    assert chi.score == pytest.approx(expected_chi.pvalue, rel=1e-9)
    assert chi.detail["statistic"] == pytest.approx(expected_chi.statistic, rel=1e-12)

    js = column_drift(ref, cur, stattest="jensenshannon")
    assert js.score == pytest.approx(distance.jensenshannon(rc / rc.sum(), cc / cc.sum()), rel=1e-10)

    assert column_drift(ref, cur, stattest="psi").score == pytest.approx(_slow_psi(rc, cc), rel=1e-10)


def test_chisquare_agrees_with_chi2_contingency_on_the_verdict() -> None:
    rng = np.random.default_rng(9)
    ref = pd.Series(rng.choice(list("abc"), 800, p=[0.5, 0.3, 0.2]))
    cur = pd.Series(rng.choice(list("abc"), 800, p=[0.3, 0.3, 0.4]))
    table = np.array([ref.value_counts().sort_index(), cur.value_counts().sort_index()])
    contingency_p = stats.chi2_contingency(table).pvalue
    assert contingency_p < 1e-6
    assert column_drift(ref, cur).score < 1e-6


def test_z_test_matches_the_pooled_two_proportion_formula() -> None:
    ref = pd.Series(["yes"] * 130 + ["no"] * 370)
    cur = pd.Series(["yes"] * 160 + ["no"] * 240)
    p1, p2, pooled = 130 / 500, 160 / 400, 290 / 900
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / 500 + 1 / 400))
    result = column_drift(ref, cur)
    assert result.stattest == "z"
    assert abs(result.detail["statistic"]) == pytest.approx(abs(z), rel=1e-12)
    assert result.score == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert result.drifted


def test_z_test_of_identical_single_value_is_no_drift() -> None:
    result = column_drift(pd.Series(["a"] * 10), pd.Series(["a"] * 20))
    assert (result.stattest, result.score, result.drifted) == ("z", 1.0, False)


# --- detection and false positives ------------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "stattest"), [(500, "ks"), (20_000, "wasserstein")])
def test_shifted_normal_is_detected(n: int, stattest: str) -> None:
    rng = np.random.default_rng(10)
    result = column_drift(rng.normal(size=n), rng.normal(0.5, 1.0, size=n))
    assert result.stattest == stattest
    assert result.drifted


def test_resamples_of_the_reference_are_not_flagged_by_ks() -> None:
    # Under no drift the KS p-value is (conservatively) uniform, so flags over 40 seeds are ~Binomial(40, 0.05):
    # mean 2, and P(X >= 7) < 0.004. Seeds are fixed, so this is deterministic; the bound catches a broken test.
    flags = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        reference = rng.normal(size=800)
        flags += column_drift(reference, rng.choice(reference, 600)).drifted
    assert flags <= 6


def test_resamples_of_the_reference_are_not_flagged_by_the_large_sample_defaults() -> None:
    # Normed Wasserstein between two size-n samples of one distribution is ~1/sqrt(n) (about 0.02 at n=3000) and
    # the JS distance of 10 equal categories about 0.03: both far below the 0.1 thresholds, so expect no flags.
    numeric_flags = categorical_flags = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        reference = rng.normal(size=3000)
        numeric_flags += column_drift(reference, rng.choice(reference, 3000)).drifted
        labels = pd.Series(rng.choice([f"c{i}" for i in range(10)], 3000))
        categorical_flags += column_drift(labels, labels.sample(2000, replace=True, random_state=seed)).drifted
    assert numeric_flags == 0
    assert categorical_flags == 0


def test_new_category_is_drift() -> None:
    rng = np.random.default_rng(11)
    small_ref = pd.Series(rng.choice(list("abc"), 600))
    small_cur = pd.Series(list(rng.choice(list("abc"), 480)) + ["new"] * 120)
    chi = column_drift(small_ref, small_cur)
    assert (chi.stattest, chi.score, chi.drifted) == ("chisquare", 0.0, True)
    assert chi.detail["n_categories"] == 4
    assert chi.detail["statistic"] is None  # infinite: a reference share of 0
    json.dumps(chi.to_dict(), allow_nan=False)  # strict JSON, as the server sends it

    big_ref = pd.Series(rng.choice(list("abc"), 5000))
    big_cur = pd.Series(list(rng.choice(list("abc"), 4000)) + ["new"] * 1000)
    js = column_drift(big_ref, big_cur)
    assert js.stattest == "jensenshannon" and js.drifted


def test_swapped_proportions_are_drift_but_relabelled_rows_are_not() -> None:
    ref = pd.Series(["a"] * 3500 + ["b"] * 1500)
    swapped = pd.Series(["a"] * 1500 + ["b"] * 3500)
    assert column_drift(ref, swapped).drifted
    assert not column_drift(ref, ref.sample(frac=1.0, random_state=0)).drifted
    assert column_drift(ref.head(600), swapped.sample(600, random_state=1)).stattest == "z"


def test_categorical_dtype_with_unused_levels_equals_plain_strings() -> None:
    rng = np.random.default_rng(12)
    ref = pd.Series(rng.choice(list("abc"), 700))
    cur = pd.Series(rng.choice(list("abd"), 500))
    levels = list("abcdz")  # "z" unused on both sides must not enter the test
    as_category = column_drift(ref.astype(pd.CategoricalDtype(levels)), cur.astype(pd.CategoricalDtype(levels)))
    plain = column_drift(ref, cur)
    assert as_category.score == pytest.approx(plain.score) and as_category.detail["n_categories"] == 4


# --- defaults, overrides, nulls -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("values", "n", "expected"),
    [
        ("normal", 1000, "ks"), ("normal", 1001, "wasserstein"),
        ("abc", 1000, "chisquare"), ("abc", 1001, "jensenshannon"),
        ("ab", 1000, "z"), ("ab", 1001, "jensenshannon"),
        ("int5", 1000, "chisquare"), ("int5", 1001, "jensenshannon"),
        ("int2", 1000, "z"), ("int6", 1000, "ks"), ("int6", 1001, "wasserstein"),
    ],
)
def test_defaults_switch_at_1000_reference_rows(values: str, n: int, expected: str) -> None:
    rng = np.random.default_rng(13)
    draw = {
        "normal": lambda k: rng.normal(size=k),
        "abc": lambda k: rng.choice(list("abc"), k),
        "ab": lambda k: rng.choice(list("ab"), k),
        "int5": lambda k: rng.integers(0, 5, k),
        "int2": lambda k: rng.integers(0, 2, k),
        "int6": lambda k: rng.integers(0, 6, k),
    }[values]
    result = column_drift(draw(n), draw(300))
    assert result.stattest == expected
    assert result.threshold == (0.05 if expected in ("ks", "chisquare", "z") else 0.1)


def test_nulls_are_excluded_and_do_not_count_towards_the_size_rule() -> None:
    rng = np.random.default_rng(14)
    ref = pd.Series(rng.normal(size=1000))
    cur = pd.Series(rng.normal(size=400))
    with_nulls = pd.concat([ref, pd.Series([np.nan, np.inf, -np.inf])], ignore_index=True)
    result = column_drift(with_nulls, pd.concat([cur, pd.Series([None])], ignore_index=True).astype(float))
    assert result.stattest == "ks"  # 1000 finite values, not 1003
    assert result.score == column_drift(ref, cur).score
    assert result.detail["n_reference"] == 1000

    labels = pd.Series(["a", None, "b", np.nan, "a"] * 100)
    assert column_drift(labels, labels.dropna()).detail["n_reference"] == 300


def test_overrides_per_column() -> None:
    rng = np.random.default_rng(15)
    ref = pd.DataFrame({"x": rng.normal(size=5000), "y": rng.normal(size=5000), "c": rng.choice(list("ab"), 5000)})
    cur = pd.DataFrame({"x": rng.normal(0.15, 1, 4000), "y": rng.normal(0.15, 1, 4000),
                        "c": rng.choice(list("ab"), 4000)})
    report = dataset_drift(ref, cur, stattests={"y": "ks", "c": "chisquare"}, thresholds={"x": 0.5})
    by_name = {c.column: c for c in report.columns}
    assert (by_name["x"].stattest, by_name["x"].threshold, by_name["x"].drifted) == ("wasserstein", 0.5, False)
    assert (by_name["y"].stattest, by_name["y"].drifted) == ("ks", True)
    assert by_name["c"].stattest == "chisquare"
    assert column_drift(ref["x"], cur["x"]).drifted  # without the override x drifts
    assert column_drift(ref["c"], cur["c"], stattest="chisquare", threshold=1.0).drifted  # every p-value < 1


def test_kind_override_tests_integer_codes_as_categories() -> None:
    rng = np.random.default_rng(16)
    codes = pd.Series(rng.integers(0, 50, 5000))
    assert column_drift(codes, codes.sample(2000, random_state=0)).kind == "numeric"
    result = column_drift(codes, codes.sample(2000, random_state=0), kind="categorical")
    assert (result.kind, result.stattest, result.detail["n_categories"]) == ("categorical", "jensenshannon", 50)


# --- dataset level --------------------------------------------------------------------------------------------

def _frames(n: int = 3000, drifted: int = 2, total: int = 4, seed: int = 17) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({f"f{i}": rng.normal(size=n) for i in range(total)})
    cur = pd.DataFrame({f"f{i}": rng.normal(1.0 if i < drifted else 0.0, 1.0, n) for i in range(total)})
    return ref, cur


def test_dataset_drift_is_the_share_of_drifted_columns() -> None:
    ref, cur = _frames(drifted=2, total=4)
    report = dataset_drift(ref, cur)
    assert report.share_drifted == 0.5 and report.dataset_drift  # "at least half"
    assert report.drifted_columns == ["f0", "f1"]
    assert (report.n_reference, report.n_current) == (3000, 3000)
    assert not dataset_drift(ref, cur, drift_share=0.75).dataset_drift
    assert not dataset_drift(*_frames(drifted=1, total=4)).dataset_drift


def test_threads_do_not_change_results_and_report_is_json() -> None:
    ref, cur = _frames(n=2000, drifted=3, total=6)
    ref["label"] = np.where(ref["f5"] > 0, "pos", "neg")
    cur["label"] = np.where(cur["f0"] > 0.5, "pos", "neg")
    cur = cur.iloc[:1500]
    serial, threaded = dataset_drift(ref, cur, workers=1), dataset_drift(ref, cur, workers=4)
    assert serial == threaded
    body = json.loads(json.dumps(serial.to_dict()))
    assert [c["column"] for c in body["columns"]] == [*(f"f{i}" for i in range(6)), "label"]
    assert body["columns"][-1]["kind"] == "categorical"


def test_datetime_columns_are_skipped_by_default_and_rejected_when_named() -> None:
    ref, cur = _frames(total=2)
    ref["at"] = pd.Timestamp("2024-01-01")
    cur["at"] = pd.Timestamp("2024-02-01")
    assert [c.column for c in dataset_drift(ref, cur).columns] == ["f0", "f1"]
    with pytest.raises(InvalidInput, match="'at'"):
        dataset_drift(ref, cur, columns=["at"])


def test_prediction_drift_on_outputs() -> None:
    rng = np.random.default_rng(18)
    scores = prediction_drift(rng.uniform(size=2000), rng.beta(2, 5, size=2000))
    assert [c.column for c in scores.columns] == ["prediction"] and scores.dataset_drift
    probabilities = rng.dirichlet([1, 1, 1], size=2000)
    report = prediction_drift(probabilities, probabilities[rng.integers(0, 2000, 1500)])
    assert [c.column for c in report.columns] == ["prediction_0", "prediction_1", "prediction_2"]
    assert not report.dataset_drift


def test_drift_by_window_flags_only_the_shifted_window() -> None:
    rng = np.random.default_rng(19)
    ref = pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(list("abc"), 2000)})
    times = pd.date_range("2024-05-01", periods=3 * 1200, freq="3s")  # three hours
    shift = np.repeat([0.0, 0.0, 1.0], 1200)
    cur = pd.DataFrame({"at": times, "x": rng.normal(size=times.size) + shift,
                        "c": rng.choice(list("abc"), times.size)})
    windows = drift_by_window(ref, cur, time_column="at", every="1h")
    assert [w.start.hour for w in windows] == [0, 1, 2]
    assert all(w.end - w.start == pd.Timedelta("1h") for w in windows)
    assert [w.report.drifted_columns for w in windows] == [[], [], ["x"]]
    assert sum(w.report.n_current for w in windows) == len(cur)
    with pytest.raises(InvalidInput, match="every|fixed"):
        drift_by_window(ref, cur, time_column="at", every="1MS")


# --- errors -------------------------------------------------------------------------------------------------------

def test_missing_columns_name_the_column() -> None:
    ref, cur = _frames(total=2)
    with pytest.raises(InvalidInput, match="'f1' is missing from the current") as caught:
        dataset_drift(ref, cur.drop(columns=["f1"]))
    assert caught.value.field == "f1"
    with pytest.raises(InvalidInput, match="'nope' is missing from the reference"):
        dataset_drift(ref, cur, columns=["f0", "nope"])
    with pytest.raises(InvalidInput, match="'nope'"):
        dataset_drift(ref, cur, thresholds={"nope": 0.2})


def test_unknown_stattest_lists_the_accepted_names() -> None:
    ref, cur = _frames(total=1)
    with pytest.raises(InvalidInput) as caught:
        dataset_drift(ref, cur, stattests={"f0": "anderson"})
    assert all(name in caught.value.message for name in STATTESTS)
    with pytest.raises(InvalidInput, match="accepted"):
        column_drift([1.0, 2.0], [1.0, 3.0], stattest="KS")


def test_numeric_only_tests_reject_categorical_columns() -> None:
    with pytest.raises(InvalidInput, match="needs a numeric column"):
        column_drift(pd.Series(list("abc")), pd.Series(list("abd")), stattest="wasserstein")


@pytest.mark.parametrize(
    ("reference", "current"),
    [([], [1.0]), ([1.0, 2.0], [np.nan, np.nan]), (pd.Series([None, None], dtype=object), pd.Series(["a"]))],
)
def test_empty_inputs_are_invalid(reference: list[float], current: list[float]) -> None:
    with pytest.raises(InvalidInput, match="no non-null values"):
        column_drift(reference, current)


def test_empty_frames_are_invalid() -> None:
    ref, _ = _frames(total=1)
    with pytest.raises(InvalidInput, match="current data is empty"):
        dataset_drift(ref, ref.iloc[:0])
