"""How devstack writes things for people: one-line messages, paths relative to the stack, 'did you
mean', and times as text.
"""
