"""The model servers ``bench_serving.py`` starts: ``keel serve``, ``mlflow models serve`` and a BentoML service.

Each runs in its own process group, is waited for until its health route answers and its processes idle, and is
stopped (the whole group) on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench_support import HOST, BenchError, Server, clean_env, free_port, wait_idle

__all__ = ["batching_supported", "bento_server", "keel_server", "mlflow_server", "serving"]

BENTO_SERVICE = '''
import os, pickle
import bentoml
import pandas as pd

@bentoml.service(workers=int(os.environ["BENCH_WORKERS"]))
class Classifier:
    def __init__(self) -> None:
        with open(os.environ["BENCH_MODEL_PICKLE"], "rb") as f:
            self.model = pickle.load(f)

    @bentoml.api(route="/invocations")
    def invocations(self, dataframe_split: dict) -> dict:
        frame = pd.DataFrame(dataframe_split["data"], columns=dataframe_split["columns"])
        return {"predictions": self.model.predict(frame).tolist()}
'''


@contextlib.contextmanager
def serving(name: str, cmd: list[str], env: dict[str, str], workdir: Path, port: int, health: str,
            timeout_s: float = 180.0) -> Iterator[Server]:
    """Start a model server in its own process group, wait until ``health`` answers 200 and it idles; stop it."""
    log_path = workdir / f"{name}-{port}.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(name, proc, f"http://{HOST}:{port}", log_path)
    try:
        deadline = time.monotonic() + timeout_s
        while not _healthy(f"{server.url}{health}"):
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with code {proc.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"{name} not healthy after {timeout_s:.0f} s:\n{server.log_tail()}")
            time.sleep(0.2)
        wait_idle(server)
        yield server
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL, to the process group we started: the server and its workers."""
    for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait_s)
            return


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def batching_supported() -> bool:
    """Whether this Keel's ``keel serve`` offers adaptive batching (``--max-batch-size``)."""
    out = subprocess.run([sys.executable, "-m", "keel", "serve", "--help"], capture_output=True, text=True,
                         env=clean_env({"COLUMNS": "200"}), timeout=120)
    if out.returncode != 0:  # a broken Keel must not pass for one without batching
        raise BenchError(f"keel serve --help failed (exit {out.returncode}):\n{out.stderr[-2000:]}")
    return "--max-batch-size" in out.stdout


def keel_server(uri: str, workers: int, flags: list[str], home: Path,
                work: Path) -> contextlib.AbstractContextManager[Server]:
    """``keel serve URI --workers N FLAGS`` (the flags set adaptive batching)."""
    port = free_port()
    cmd = [sys.executable, "-m", "keel", "serve", uri, "--host", HOST, "--port", str(port),
           "--workers", str(workers), *flags]
    return serving("keel", cmd, clean_env({"KEEL_HOME": str(home)}), work, port, "/ping")


def mlflow_server(python: str, model_dir: Path, workers: int, work: Path) -> contextlib.AbstractContextManager[Server]:
    """``mlflow models serve -m MODEL_DIR --env-manager local -w WORKERS`` from the venv of ``python``."""
    port = free_port()
    bin_dir = Path(python).absolute().parent
    cmd = [str(bin_dir / "mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
           "-h", HOST, "-p", str(port), "-w", str(workers)]
    env = clean_env({"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"}, path_prefix=bin_dir)  # it runs uvicorn from PATH
    return serving("mlflow", cmd, env, work, port, "/ping")


def bento_server(python: str, pickle_path: Path, workers: int, work: Path) -> contextlib.AbstractContextManager[Server]:
    """``bentoml serve`` of :data:`BENTO_SERVICE` around the pickled model, from the venv of ``python``."""
    port = free_port()
    service_dir = work / "bento"
    service_dir.mkdir(exist_ok=True)
    (service_dir / "service.py").write_text(BENTO_SERVICE)
    bin_dir = Path(python).absolute().parent
    cmd = [str(bin_dir / "bentoml"), "serve", "service:Classifier", "--host", HOST, "--port", str(port)]
    env = clean_env({"BENCH_MODEL_PICKLE": str(pickle_path), "BENCH_WORKERS": str(workers),
                     "BENTOML_HOME": str(work / "bentoml-home"), "BENTOML_DO_NOT_TRACK": "true"},
                    path_prefix=bin_dir)
    return serving("bentoml", cmd, env, service_dir, port, "/readyz")
