"""``python -m mnist_models ...``: the command line (``mnist_models/cli/``)."""

from mnist_models.cli import main

if __name__ == "__main__":
    main()
