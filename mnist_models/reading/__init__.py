"""Reading a drawing: canvas data checked (canvas), strokes re-drawn (pen), any raster made
MNIST-like (raster), stray marks (stray), uploads decoded (uploads); prediction, the
not-a-digit check, saliency, and ``read()`` for pages and CLI."""
