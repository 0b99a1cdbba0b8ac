"""MNIST digit models: data, the blog's MLP and ConvNet, training, checkpoints.

The core of the app; it never imports Streamlit.
"""
