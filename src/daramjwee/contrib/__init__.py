"""Integrations of daramjwee with frameworks, each behind an extra (``daramjwee.contrib.django``: ``[django]``)."""
