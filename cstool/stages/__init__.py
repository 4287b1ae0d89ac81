"""One stage per module: tag, switch, distill, replay, evaluate. Each is callable without the CLI."""
