"""Contributed results: a vision model run elsewhere, packed as its layer matrices and records (``pack``), verified
here by recomputing every number (``verify``) and merged into the leaderboard (``merge``)."""
