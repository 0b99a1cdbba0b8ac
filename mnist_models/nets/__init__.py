"""The networks and their weights: the network table, the modules, evaluation,
checkpoints with their metadata schema, and the registry of versions in use."""
