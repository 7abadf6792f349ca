"""Cost as exact expressions of the input's free sizes and the batch (`cnncost formula`):
expr (polynomials with floors), sym (sizes that are numbers and expressions at once),
domain (where the expressions hold), derive (build once symbolically, check at other
sizes), source (which sizes are free for a spec or a model file)."""
