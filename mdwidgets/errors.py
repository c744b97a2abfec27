"""The errors a user can fix, under one base: catch :class:`InputError` for any of them.

- :class:`InputError` — bad input: a file that cannot be read, or one of the kinds below. A
  ``ValueError``, so code that catches that keeps working.
- :class:`~mdwidgets.LayoutError` — a layout or its JSON (names the field and the value).
- :class:`~mdwidgets.SettingsError` — a rendering setting (names the setting, what it must be and
  where it came from).
"""


class InputError(ValueError):
    """Input a user can fix; the message says what is wrong and where."""
