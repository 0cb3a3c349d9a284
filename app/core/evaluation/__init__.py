"""Evaluation: routing quality on labelled outcomes (APGR, CPT, cost at 98% quality, with
the RouteLLM definitions), threshold calibration, the shipped out-of-fold calibration sample,
and the user's verdicts as labelled rows. Imports ``routing``, ``ledger`` and ``config``.
"""
