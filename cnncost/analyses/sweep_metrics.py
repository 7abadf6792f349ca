"""What each cell of a sweep holds: the CLI's --metric choices, read at start-up without
loading the sweep itself."""

METRICS = ("mults", "params", "flops", "activations", "peak_activation_bytes")
