"""Threat assessment: what each track is, which rules it breaks, and the alerts that follow.

The stages are imported on first use: the site configuration needs only :class:`AssessmentConfig`."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dronewatch.assessment.config import AssessmentConfig

if TYPE_CHECKING:
    from dronewatch.assessment.alerts import AlertBook, Condition
    from dronewatch.assessment.classify import Classification, Classifier, SoftmaxModel
    from dronewatch.assessment.threat import Assessor

_MODULE_OF = {"AlertBook": "alerts", "Condition": "alerts", "Classification": "classify",
              "Classifier": "classify", "SoftmaxModel": "classify", "Assessor": "threat"}

__all__ = ["AlertBook", "AssessmentConfig", "Assessor", "Classification", "Classifier", "Condition",
           "SoftmaxModel"]


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
