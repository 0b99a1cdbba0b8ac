"""Training: augmentation, the one training loop and pipeline, the training process and
its jobs, duration estimates, learning curves and calibration."""
