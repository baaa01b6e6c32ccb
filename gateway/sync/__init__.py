"""The Graph pull sync: the engine turning Graph reads into store applies, and its scheduler."""
