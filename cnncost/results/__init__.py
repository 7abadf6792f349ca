"""What every command of `cnncost.api` returns: frozen records with `to_dict()`, rendered by
`cnncost.render` by their `rendered_as` name. The report's result (results/report.py) is apart
from the others (results/commands.py) so that a report builds no class it never returns."""
