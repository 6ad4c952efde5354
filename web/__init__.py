"""The operators' web map (a client of the station). Empty until the web issue lands."""
