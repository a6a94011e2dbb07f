"""One module per command; each has ``main(args, config) -> exit code``."""
