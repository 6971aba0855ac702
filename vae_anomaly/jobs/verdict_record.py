"""The verdicts a model file says it was fitted with, read without pandas (``vae-detect info``)."""

from __future__ import annotations

__all__ = ["recorded_verdicts"]

_COUNTS = ("verdicts", "anomalies", "normal", "unreviewed", "rows_anomalous", "rows_normal", "shared_keys")


def recorded_verdicts(meta: dict) -> dict | None:
    """What a model file records of the verdicts it was fitted with, or None.

    The record is :meth:`vae_anomaly.jobs.verdicts.Verdicts.to_dict` of the
    fit's verdicts. A record of another shape (a file written by something
    else) counts as none.
    """
    found = (meta.get("training") or {}).get("verdicts")
    key = found.get("key") if isinstance(found, dict) else None
    if not (isinstance(key, dict) and isinstance(key.get("name"), str) and isinstance(key.get("source"), str)
            and isinstance(key.get("hashed", []), list)
            and all(isinstance(found.get(k), int) for k in _COUNTS)):
        return None
    return found
