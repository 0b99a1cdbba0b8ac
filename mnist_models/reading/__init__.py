"""Reading a drawing: preprocessing (canvas strokes, rasters, uploads, stray marks) to
MNIST's 28x28, prediction, the not-a-digit check, saliency, and ``read()`` for pages and CLI."""
