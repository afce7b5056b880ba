"""``keel serve --auth``: the model server refuses predictions without a token and answers a viewer's."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from keel.governance.projects import add_member
from keel.governance.tokens import create_token
from keel.governance.users import create_user
from keel.store import Database
from keel_testing import ServeProcess, serve_registered


def test_keel_serve_auth_flag_requires_a_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    model = LogisticRegression().fit(frame, (frame["a"] > 0).astype(int))
    serve_registered(home, model, frame.head(3), "auth-model").stop()  # registers version 1 in this home

    db = Database(f"sqlite:///{home / 'keel.db'}")
    create_user(db, "root")
    create_user(db, "reader")
    add_member(db, "default", "reader", "viewer")
    token = create_token(db, "reader").token
    db.dispose()

    proc = ServeProcess(home, "models:/auth-model/1", "--auth").start(timeout=60)
    try:
        body = {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]}}
        refused = httpx.post(f"{proc.url}/invocations", json=body, timeout=10)
        assert refused.status_code == 401 and token not in refused.text
        answered = httpx.post(f"{proc.url}/invocations", json=body, timeout=10,
                              headers={"Authorization": f"Bearer {token}"})
        assert answered.status_code == 200, answered.text
        assert answered.json()["predictions"] == model.predict(pd.DataFrame(body["dataframe_split"]["data"],
                                                                               columns=["a", "b", "c"])).tolist()
        assert httpx.get(f"{proc.url}/v2/health/live", timeout=10).status_code == 200  # health stays public
    finally:
        proc.stop()
