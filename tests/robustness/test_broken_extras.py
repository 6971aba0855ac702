"""An extra installed but not importing is named as broken, with its versions: never "not installed".

Issue 27.5: with ``dask`` upgraded past what the installed ``distributed``
supports, ``--dask`` said "dask.base is not installed"; a matplotlib failing
on a shared library was "not installed" too, and a failing ``dask`` import
was "(None is not installed)". The error now says "not installed" only when
a package's distribution is absent (:func:`vae_anomaly.jobs.extras.installed_version`),
and otherwise names the failing import and the installed version of each
package of the extra, on one line.
"""

from __future__ import annotations

import builtins
import os
import subprocess
import sys

import pytest

import vae_anomaly.jobs.extras as extras
from tests.helpers import invoke
from vae_anomaly import MissingExtraError
from vae_anomaly.jobs.extras import DASK, REPORT, extra_error, installed_version

from .hostile import write_frame

pytest.importorskip("distributed")
pytest.importorskip("matplotlib")


def _versions(extra, first: str) -> str:
    order = [first] + [d for d in extra.distributions if d != first]
    return " with ".join(f"{d} {installed_version(d)}" for d in order)


def fail_import(monkeypatch, module: str, exc: ImportError) -> None:
    """Make ``import module`` (and its submodules) raise ``exc``, as a broken install does."""
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == module or name.startswith(module + "."):
            raise exc
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


def uninstall(monkeypatch, *distributions: str) -> None:
    """Make ``distributions`` look absent to :mod:`importlib.metadata`."""
    real = extras.installed_version
    monkeypatch.setattr(extras, "installed_version",
                        lambda name: None if name in distributions else real(name))


@pytest.fixture()
def fresh_cluster_job(monkeypatch):
    """``vae_anomaly.jobs.cluster`` imported again by the next command (the original is put back after)."""
    import vae_anomaly.jobs

    monkeypatch.delitem(sys.modules, "vae_anomaly.jobs.cluster", raising=False)
    if hasattr(vae_anomaly.jobs, "cluster"):
        monkeypatch.delattr(vae_anomaly.jobs, "cluster")


# ------------------------------------------------------------------------------------------
# the rule
# ------------------------------------------------------------------------------------------
def test_not_installed_only_when_the_distribution_is_absent():
    missing = extra_error(DASK, ModuleNotFoundError("No module named 'toolz_x'", name="toolz_x"),
                          "scoring with Dask")
    assert str(missing) == ("scoring with Dask needs the dask extra (toolz_x is not installed): "
                            "pip install 'vae-anomaly[dask]'")
    # a submodule missing from an installed package, or an import halted on purpose: installed, broken
    for exc in (ModuleNotFoundError("No module named 'dask.base'", name="dask.base"),
                ModuleNotFoundError("import of dask halted; None in sys.modules", name="dask")):
        broken = extra_error(DASK, exc, "scoring with Dask")
        assert str(broken) == (f"the dask extra is installed but does not import: {_versions(DASK, 'dask')}: "
                               f"ModuleNotFoundError: {exc}")
        assert broken.__cause__ is exc
    # an ImportError without a module name (a shared library, an ABI mismatch) is never "None is missing"
    shared_library = ImportError("libstdc++.so.6: version GLIBCXX_3.4.32 not found")
    broken = extra_error(REPORT, shared_library, "the report")
    assert "None" not in str(broken) and "is not installed" not in str(broken)
    assert str(broken) == (f"the report extra is installed but does not import: "
                           f"{_versions(REPORT, 'matplotlib')}: ImportError: {shared_library}")
    assert isinstance(broken, MissingExtraError) and isinstance(broken, ImportError)


# ------------------------------------------------------------------------------------------
# through the command line, in this process
# ------------------------------------------------------------------------------------------
@pytest.fixture()
def table(base, dirs):
    inp, out = dirs
    return write_frame(base, inp / "t.parquet"), out


def test_distributed_that_does_not_import_with_dask_is_named_with_the_versions(
        monkeypatch, fresh_cluster_job, model, table):
    data, out = table
    fail_import(monkeypatch, "distributed",
                ImportError("cannot import name 'x' from 'dask.base'", name="dask.base"))
    result = invoke("score", data, "-m", model, "-o", out / "s", "--dask", "local")
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        f"error: the dask extra is installed but does not import: {_versions(DASK, 'dask')}: "
        "ImportError: cannot import name 'x' from 'dask.base'"]
    assert list(out.iterdir()) == []


def test_distributed_really_absent_is_not_installed(monkeypatch, fresh_cluster_job, model, table):
    data, out = table
    fail_import(monkeypatch, "distributed", ModuleNotFoundError("No module named 'distributed'",
                                                                name="distributed"))
    uninstall(monkeypatch, "distributed")
    result = invoke("score", data, "-m", model, "-o", out / "s", "--dask", "local")
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        "error: scoring on a Dask cluster needs the dask extra (distributed is not installed): "
        "pip install 'vae-anomaly[dask]'"]


def test_matplotlib_failing_on_a_shared_library_is_named_with_the_versions(monkeypatch, model, table):
    data, out = table
    fail_import(monkeypatch, "matplotlib", ImportError("libstdc++.so.6: version GLIBCXX_3.4.32 not found"))
    result = invoke("report", data, "-m", model, "-o", out / "r.html")
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        f"error: the report extra is installed but does not import: {_versions(REPORT, 'matplotlib')}: "
        "ImportError: libstdc++.so.6: version GLIBCXX_3.4.32 not found"]
    assert list(out.iterdir()) == []


# ------------------------------------------------------------------------------------------
# a real broken install: a distributed package that cannot import from the installed dask
# ------------------------------------------------------------------------------------------
def test_a_distributed_package_broken_against_dask_names_distributed_first(model, table, tmp_path):
    data, out = table
    fake = tmp_path / "site" / "distributed"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("from dask import _this_name_does_not_exist\n")
    env = {**os.environ, "PYTHONPATH": str(fake.parent), "OMP_NUM_THREADS": "1"}
    code = ("import sys; sys.argv = ['vae-detect'] + sys.argv[1:]; "
            "from vae_anomaly.cli.app import main; main()")
    result = subprocess.run([sys.executable, "-c", code, "score", str(data), "-m", str(model), "-o",
                             str(out / "s"), "--dask", "local"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: the dask extra is installed but does not import: "
                               f"{_versions(DASK, 'distributed')}: ImportError: cannot import name "
                               "'_this_name_does_not_exist' from 'dask'"), lines[0]
