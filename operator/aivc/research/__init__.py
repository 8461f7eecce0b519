"""The research loop: the pure phase machine, planners, adoption, history and local mode."""
