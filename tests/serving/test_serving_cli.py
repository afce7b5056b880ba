"""`keel serve` as a process: ready, and answers the MLflow and v2 protocols with the model's predictions."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from keel.registry.model_files import save_model
from keel_testing import free_port


def test_keel_serve_process_answers_both_protocols(tmp_path: Path) -> None:
    data = load_iris(as_frame=True)
    model = LogisticRegression(max_iter=300).fit(data.data, data.target)
    save_model(model, tmp_path / "iris", input_example=data.data.head(3))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["KEEL_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen([sys.executable, "-m", "keel", "serve", str(tmp_path / "iris"), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        rows = data.data.head(4)
        body = {"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}}
        got = httpx.post(f"{url}/invocations", json=body, timeout=10).json()["predictions"]
        assert np.array_equal(np.asarray(got), model.predict(rows))
        tensor = {"inputs": [{"name": "input-0", "shape": [4, 4], "datatype": "FP64",
                              "data": rows.values.ravel().tolist()}]}
        out = httpx.post(f"{url}/v2/models/iris/infer", json=tensor, timeout=10).json()
        assert np.array_equal(np.asarray(out["outputs"][0]["data"]), model.predict(pd.DataFrame(rows)))
    finally:
        proc.terminate()
        proc.wait(10)
