"""Small model worlds built locally and deterministically from a seed (see docs/worlds.md).

Each world lives in its own module (``audit.worlds.digits``, ...) and is imported only when
needed, because worlds pull in torch and scikit-learn.
"""
