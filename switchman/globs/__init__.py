"""The glob language of scopes, claims and policy (SPEC §4).

Everything that decides "does this path belong to that pattern" goes through here, so a claim, a
scope reservation, a scope-overlap check and `allowed_generated_paths` can never disagree:
`syntax` (parsing, validation), `charset` (character-set algebra), `nfa` (the one definition of
what a glob matches, and overlap) and `matcher` (the fast engine for the hook path, checked
against `nfa` by a differential test). Callers import from the submodules.
"""
