"""One module per `han-agent` subcommand: each has `register(subparsers)` and `run(args) -> int`.

agent/cli.py lists them; adding a command is a new module here and one line there.
"""
