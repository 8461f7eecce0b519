"""One module per `aivc` subcommand; each exposes `register(subparsers)`."""
