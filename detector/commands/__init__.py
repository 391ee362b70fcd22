"""The command-line commands, one module each; ``detector.cli`` wires them."""
