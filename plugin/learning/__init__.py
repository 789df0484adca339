"""Learning from resolved tickets: extract what the humans did, propose reviewed changes.

cases -> extract (a Lesson per case) -> plan (new / update / retire / rule proposals
against the current knowledge and rules) -> gates (nothing unsafe or malformed leaves)
-> publish (a branch and a pull request; never the default branch).
"""
