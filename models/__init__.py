"""The model: estimator, time-aware splits, calibration, baselines, metrics, explanations, registry."""
