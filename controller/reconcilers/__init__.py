"""One reconciler per Kind; each is level-triggered and idempotent."""

from .experiment import ExperimentReconciler
from .model import ModelReconciler, ModelVersionReconciler
from .run import RunReconciler
from .trainingjob import TrainingJobReconciler

__all__ = ["ExperimentReconciler", "ModelReconciler", "ModelVersionReconciler",
           "RunReconciler", "TrainingJobReconciler"]
