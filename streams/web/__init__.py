"""The oversight body's read-only web page: :mod:`.page` renders (pure), :mod:`.app` serves."""
