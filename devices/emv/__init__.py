"""EMV contact: APDU codec, data-object lists, tag dictionary and the terminal kernel."""
