"""Threat assessment: what each track is, which rules it breaks, and the alerts that follow."""

from dronewatch.assessment.alerts import AlertBook, Condition
from dronewatch.assessment.classify import Classification, Classifier, SoftmaxModel
from dronewatch.assessment.threat import AssessmentConfig, Assessor

__all__ = ["AlertBook", "AssessmentConfig", "Assessor", "Classification", "Classifier", "Condition",
           "SoftmaxModel"]
