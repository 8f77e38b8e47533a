"""The control plane's tables: runs (written by the engine), the registry (by people), corpora
and the baselines evaluations compare with."""

from rainbow.control.models.baselines import Baseline
from rainbow.control.models.corpora import CorpusVersion
from rainbow.control.models.registry import (
    ApiToken,
    Approval,
    AuditEntry,
    DefaultPointer,
    Environment,
    Module,
    ModuleBuild,
    ModuleVersion,
    Pipeline,
    PipelineVersion,
    Promotion,
)
from rainbow.control.models.runs import (
    Attempt,
    Instance,
    Metric,
    OutboxMessage,
    Run,
    StepCache,
    StepRun,
    Timer,
)

__all__ = [
    "ApiToken",
    "Approval",
    "Attempt",
    "AuditEntry",
    "Baseline",
    "CorpusVersion",
    "DefaultPointer",
    "Environment",
    "Instance",
    "Metric",
    "Module",
    "ModuleBuild",
    "ModuleVersion",
    "OutboxMessage",
    "Pipeline",
    "PipelineVersion",
    "Promotion",
    "Run",
    "StepCache",
    "StepRun",
    "Timer",
]
