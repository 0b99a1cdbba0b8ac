"""Synthetic drawings made from MNIST and by hand: drawn-digit sets and non-digits for
the drawn augmentation, the not-a-digit detector's fit, tests and benchmarks."""
