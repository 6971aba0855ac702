"""A local S3-compatible server (moto's server mode) for the object-storage tests, started once a session.

The server runs on 127.0.0.1 in a process of its own (``python -m
moto.server``), not in a thread of the test process
(``moto.server.ThreadedMotoServer``): pyarrow holds the GIL in some calls
that talk to the store (an output stream closed by the garbage collector
uploads what it holds), and a server that needs the same GIL then waits for
them forever, so a bug would hang the suite instead of failing a test. A
server process also serves the subprocesses and Dask workers that tests
start.

The :func:`s3` fixture puts the server's address and test credentials in
the environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``), where pyarrow and every
process started from the test (a ``LocalCluster``'s workers too) find them,
and makes a fresh bucket. Skipped, with the reason, only where moto is not
installed (``pip install -e '.[dev]'`` installs it).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

import pyarrow.fs as pa_fs
import pytest

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """The address of a moto S3 server on 127.0.0.1, stopped at the end of the session.

    It logs every request; the log goes to a file (a pipe nobody reads would
    fill up and stop the server).
    """
    try:
        import moto.server  # noqa: F401
    except ImportError:
        pytest.skip("moto[server] is not installed (pip install -e '.[dev]'); the object-storage tests "
                    "need its local S3 server")
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
                break
            except (urllib.error.URLError, OSError):
                if proc.poll() is not None:
                    pytest.fail(f"the moto server exited: {log.read_text(errors='replace')[-2000:]}")
                if time.monotonic() > deadline:
                    pytest.fail("the moto server did not answer within 60 s")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Bucket:
    """A fresh bucket on the local server: ``uri(key)`` names an object, ``fs`` reads and writes it."""

    endpoint: str
    name: str
    fs: pa_fs.S3FileSystem

    def uri(self, key: str = "") -> str:
        return f"s3://{self.name}/{key}"

    def path(self, key: str) -> str:
        return f"{self.name}/{key}"

    def keys(self, prefix: str = "") -> list[str]:
        """Every object's key under ``prefix``, sorted."""
        found = self.fs.get_file_info(pa_fs.FileSelector(self.path(prefix).rstrip("/"), recursive=True,
                                                         allow_not_found=True))
        return sorted(i.path.split("/", 1)[1] for i in found if i.type == pa_fs.FileType.File)

    def exists(self, key: str) -> bool:
        return self.fs.get_file_info(self.path(key)).type == pa_fs.FileType.File


def s3_environment(endpoint: str) -> dict[str, str]:
    """What the tests' processes find in their environment: the server and test credentials only."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true", **CREDENTIALS}


@pytest.fixture
def s3(s3_server, monkeypatch, tmp_path_factory) -> Bucket:
    """The server in this process's environment (inherited by the processes it starts), and a new bucket.

    A user's own AWS settings (a profile, a session token, ``~/.aws``) are
    hidden, so nothing but the local server can be reached.
    """
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ROLE_ARN",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"):
        monkeypatch.delenv(name, raising=False)
    nowhere = tmp_path_factory.mktemp("no-aws-config")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(nowhere / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere / "credentials"))
    for name, value in s3_environment(s3_server).items():
        monkeypatch.setenv(name, value)
    name = f"test-{uuid.uuid4().hex[:12]}"
    fs = pa_fs.S3FileSystem(endpoint_override=s3_server, access_key="testing", secret_key="testing",
                            region="us-east-1", allow_bucket_creation=True)
    fs.create_dir(name)
    return Bucket(s3_server, name, fs)
