"""Measuring anonymization: privacy, utility, temporal stability, quality and speed.

``Evaluator(EvalSettings()).evaluate(original, anonymized)`` returns every figure as a dict
whose ``summary`` holds the headline numbers; :mod:`.report` writes JSON, HTML and PNG;
:mod:`.suite` runs every mode over a folder of clips. Definitions: ``docs/metrics.md``.
"""

from .evaluate import SUMMARY_KEYS, EvalSettings, Evaluator, speed_from_report

__all__ = ["EvalSettings", "Evaluator", "SUMMARY_KEYS", "speed_from_report"]
