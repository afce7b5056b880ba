"""`make demo` runs examples/quickstart.py: it must track, register, gate and promote on the embedded default."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.timeout(900)
def test_quickstart_runs_end_to_end(demo_store: Any) -> None:
    tmp_path = demo_store.cwd  # the demo ran here (once per session, shared with the UI's browser tests)
    assert demo_store.returncode == 0, demo_store.stderr
    out = demo_store.output
    assert "dataset breast-cancer-data@v1: 569 rows" in out  # the training data as a dataset version
    restored = tmp_path / ".keel" / "restored" / "measurements.parquet"  # keel data checkout, verified
    assert "checked out breast-cancer-data@v1 to" in out
    assert restored.read_bytes() == (tmp_path / ".keel" / "measurements.parquet").read_bytes()
    assert "passed: " in out and "0 failed" in out and (tmp_path / ".keel" / "validation.html").is_file()
    assert "+ feature view measurements" in out and "Applied 2 change(s)" in out  # keel features apply, with its diff
    assert "training set breast-cancer-training@v1: 569 rows x 30 features from the feature store" in out
    assert "registered versions [1, 2, 3]" in out
    assert "runs (3)" in out and "val_accuracy" in out
    assert "-> @champion: PROMOTED" in out
    assert "breast-cancer: versions" in out and "champion" in out
    assert "keel serve --deployment cancer-prod: /invocations -> [" in out  # the canary served by `keel serve`
    assert "prediction log (80 rows" in out  # 40 answered + 40 mirrored to the shadow
    assert "deployment cancer-prod: 3 revisions" in out and "rollback" in out
    assert "measurements: 569 entities written" in out and "50/50 sampled keys match" in out  # materialize, skew
    assert "(same as the model on the stored features)" in out  # keel serve fetched features for patient ids
    assert "batch scoring: 143 rows" in out
    assert "bundled breast-cancer v" in out and (tmp_path / ".keel" / "bundle" / "Dockerfile").is_file()
    assert "pushed breast-cancer-data@v1 to origin" in out
    assert "promoted_to ▸ alias breast-cancer@champion" in out  # keel lineage: data → run → version → champion
    assert "deployment_revision cancer-prod#1" in out
    assert "source_of ▸ feature_view measurements@v1" in out and "features_for ▸ dataset_version" in out
    # the lifecycle as a pipeline, run twice (cached), then drift -> alert -> trigger -> retraining pipeline
    assert "ct succeeded" in out and "5 succeeded" in out and "5 cached" in out
    assert "keel serve models:/ct-model@champion answered 80 shifted requests" in out
    assert "fired ct-drift-alert" in out
    assert "trigger:retrain-on-drift <- alert:ct-drift-alert" in out and "succeeded run" in out
    assert (tmp_path / ".keel" / "keel.db").is_file()  # the embedded default, nothing configured
    assert "http://127.0.0.1:5000/ui/models/breast-cancer" in out  # ends with the UI's URL of the demo's objects


@pytest.mark.timeout(900)
def test_demo_runs_link_to_the_ingested_and_validated_dataset(demo_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert demo_store.returncode == 0, demo_store.stderr
    assert "wrote 569 rows × 32 columns to" in demo_store.output  # keel data ingest of the raw CSV export
    monkeypatch.setenv("KEEL_HOME", str(demo_store.home))
    for name in ("KEEL_TRACKING_URI", "KEEL_DB_URL", "KEEL_ARTIFACT_ROOT", "KEEL_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    import keel
    import keel.data
    from keel.tracking.context import reset_backend

    reset_backend()
    try:
        data = keel.data.get_version("breast-cancer-data@v1")
        assert data.source.endswith("measurements.csv") and data.row_count == 569
        (report,) = keel.data.validation_reports(data)
        assert report["passed"] is True and len(report["checks"]) > 30
        runs = [r for r in keel.search_runs("quickstart", output_format="list")
                if (r.info.run_name or "").startswith("sgd-alpha")]
        assert len(runs) == 3
        for run in runs:
            assert {i.name for i in keel.get_run(run.info.run_id).inputs} == {"breast-cancer-data",
                                                                              "breast-cancer-training"}
    finally:
        reset_backend()
