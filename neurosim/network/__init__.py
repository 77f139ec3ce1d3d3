"""Network files, connectivity rules and building."""
