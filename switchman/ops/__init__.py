"""Use-cases that span tables: each runs its steps in one store transaction."""
