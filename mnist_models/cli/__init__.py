"""The command line, ``python -m mnist_models``: train, evaluate, curves, calibrate,
read and room."""
