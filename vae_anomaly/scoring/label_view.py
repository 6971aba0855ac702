"""The score view known anomalies choose at fit: the ELBO with independent residuals or with their covariance.

``VAEDetector.fit(X, y)`` calls :func:`view_from_labels` for row-wise models
whose ELBO score can use the residuals' full covariance. The rule itself
(a per-label gain with a one-sided lower bound) is
:func:`vae_anomaly.calibration.views.choose_view`; this module scores the
labelled and held-out rows both ways with the fitted network.
"""

from __future__ import annotations

import copy
import logging
import warnings

import numpy as np

from ..calibration.views import ViewChoice, choose_view
from ..features.encoder import Encoded
from ..model import inference, residuals
from ..model.tensors import module_device, to_tensors
from ..model.training import fit_residual_covariance

__all__ = ["view_from_labels"]

logger = logging.getLogger(__name__)


def view_from_labels(module, enc: Encoded, held: np.ndarray, labelled: np.ndarray, train_t,
                     covariance_type: str, trim_fraction: float,
                     min_log_var: float) -> tuple[object, ViewChoice]:
    """The network scoring with the view the labelled rows choose, and the evidence.

    The views are the ELBO with independent features (``"diag"``) and with
    the residuals' full covariance (``"full"``, fitted on ``train_t`` as
    ``covariance_type="full"`` fits it, with ``trim_fraction`` and
    ``min_log_var``); ``covariance_type`` is kept unless the other ranks the
    ``labelled`` model rows above the ``held`` ones by a clear margin
    (:func:`~vae_anomaly.calibration.views.choose_view`; both scored as the
    negative ELBO at the latent mean). ``module`` (a fitted ``TabularVAE``)
    is returned as it is for ``"diag"``; ``"full"`` is a copy of it.

    Warns
    -----
    UserWarning
        Where no full covariance can be fitted and ``covariance_type="full"``
        asked for it, as ``fit`` warns without labels; the view is then
        ``"diag"``.
    """
    device = module_device(module)
    rows = {"held": to_tensors(enc.take(held), device), "labelled": to_tensors(enc.take(labelled), device)}
    full = copy.deepcopy(module)
    if not fit_residual_covariance(full, train_t, trim_fraction, min_log_var):
        if covariance_type == "full":
            warnings.warn("covariance_type='full' was not used: "
                          f"{residuals.residual_note(enc.num.shape[1])}", UserWarning, stacklevel=4)
        full = None
    nets = {"diag": module} if full is None else {"diag": module, "full": full}
    scores = {name: {part: inference.score_rows(net, data, "elbo") for part, data in rows.items()}
              for name, net in nets.items()}
    default = covariance_type if covariance_type in nets else "diag"
    choice = choose_view({n: s["labelled"] for n, s in scores.items()},
                         {n: s["held"] for n, s in scores.items()}, default)
    logger.info("score view %r (labels' AUC against held-out rows: %s; lower bound %.3f)", choice.view,
                choice.label_auc, choice.lower_bound)
    return nets[choice.view], choice
