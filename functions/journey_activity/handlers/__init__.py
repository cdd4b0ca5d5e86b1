"""Lambda entry points: thin functions that parse, call the domain, and answer."""
