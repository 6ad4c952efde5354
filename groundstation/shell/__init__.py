"""The station shell: everything that does I/O around the pure core (groundstation/core/).

- station.py         the running station: the core thread and its inbox, command workers, links, ticks
- inbox.py           the core thread's one bounded inbox and its policies (coalesced states, events never lost)
- storage/           the database (SQLite): the single writer, migrations, every SQL statement, readers
- schedules.py       patrol schedules: plan, validate, add/list/remove, load for the station
- vision_streams.py  supervises one vision worker process per camera and feeds their results to the core
- flighttest.py      the scripted check flight, flown through the station's checked, audited command path
"""
