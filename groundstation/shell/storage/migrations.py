"""The schema: `MIGRATIONS`, the ordered SQL steps (`PRAGMA user_version` says how many a database has had), and
`TABLES`, the station's record tables that `StorageReader.counts` reports.
"""
from __future__ import annotations


MIGRATIONS: tuple[str, ...] = (
    # 1: the audit trail and the event log
    """
    CREATE TABLE vehicles (
        vehicle_id   TEXT PRIMARY KEY,
        url          TEXT NOT NULL,
        system_id    INTEGER,
        is_simulator INTEGER,
        first_seen_s REAL NOT NULL,
        last_seen_s  REAL NOT NULL
    );
    CREATE TABLE link_changes (
        id         INTEGER PRIMARY KEY,
        vehicle_id TEXT NOT NULL,
        at_s       REAL NOT NULL,
        up         INTEGER NOT NULL CHECK (up IN (0, 1)),
        reason     TEXT NOT NULL
    );
    CREATE TABLE commands (
        id             INTEGER PRIMARY KEY,
        request_id     TEXT NOT NULL,
        vehicle_id     TEXT NOT NULL,
        action         TEXT NOT NULL,
        params_json    TEXT NOT NULL,
        requested_by   TEXT NOT NULL,
        requested_at_s REAL NOT NULL,
        decision       TEXT NOT NULL CHECK (decision IN ('sent', 'refused')),
        reason         TEXT NOT NULL,
        status         TEXT,
        command        INTEGER,
        result         INTEGER,
        result_name    TEXT,
        round_trip_s   REAL,
        error          TEXT,
        finished_at_s  REAL
    );
    CREATE TABLE events (
        id         INTEGER PRIMARY KEY,
        vehicle_id TEXT,
        at_s       REAL NOT NULL,
        kind       TEXT NOT NULL,
        severity   TEXT NOT NULL,
        text       TEXT NOT NULL,
        data_json  TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 2: mission runs, command attempts, indexes for the per-vehicle queries
    """
    CREATE TABLE mission_runs (
        run_id           TEXT PRIMARY KEY,
        vehicle_id       TEXT NOT NULL,
        mission_type     TEXT NOT NULL,
        item_count       INTEGER NOT NULL,
        status           TEXT NOT NULL,
        last_reached_seq INTEGER,
        created_at_s     REAL NOT NULL,
        updated_at_s     REAL NOT NULL
    );
    ALTER TABLE commands ADD COLUMN attempts INTEGER;
    CREATE INDEX commands_request ON commands (request_id);
    CREATE INDEX commands_vehicle_at ON commands (vehicle_id, requested_at_s);
    CREATE INDEX events_vehicle_at ON events (vehicle_id, at_s);
    CREATE INDEX link_changes_vehicle_at ON link_changes (vehicle_id, at_s);
    """,
    # 3: patrol schedules and patrol runs. A schedule stores the mission as planned and checked when it was
    # added (plan_json: items without the home slot, start point, estimates) and, for the record and a later
    # re-plan, the zone file's text and the pattern parameters (zone_text, spec_json).
    """
    CREATE TABLE schedules (
        schedule_id   TEXT PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        zone_file     TEXT NOT NULL,
        zone_text     TEXT NOT NULL,
        spec_json     TEXT NOT NULL,
        plan_json     TEXT NOT NULL,
        cron          TEXT,
        interval_s    REAL,
        tz_name       TEXT NOT NULL,
        grace_s       REAL NOT NULL,
        cover_s       REAL,
        enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
        created_at_s  REAL NOT NULL,
        updated_at_s  REAL NOT NULL,
        last_fired_s  REAL,
        CHECK ((cron IS NULL) != (interval_s IS NULL))
    );
    CREATE TABLE patrol_runs (
        run_id            TEXT PRIMARY KEY,
        schedule_id       TEXT NOT NULL,
        vehicle_id        TEXT,
        status            TEXT NOT NULL CHECK (status IN ('planned', 'launched', 'completed', 'aborted', 'missed')),
        reason            TEXT NOT NULL DEFAULT '',
        scheduled_for_s   REAL,
        planned_at_s      REAL NOT NULL,
        launched_at_s     REAL,
        ended_at_s        REAL,
        last_reached_item INTEGER,
        resume_item       INTEGER,
        resume_from_item  INTEGER,
        resumed_from_run  TEXT,
        mission_run_id    TEXT,
        relieves_run      TEXT,
        updated_at_s      REAL NOT NULL
    );
    CREATE INDEX patrol_runs_schedule ON patrol_runs (schedule_id, planned_at_s);
    """,
    # 4: ground counting from the vision streams: crowd observations (every one the core handled), zone counts
    # (on change and every few seconds), gatherings (a zone over capacity for hold_s, then dispersed), each
    # stream's view counts (people in view, placed, or flagged pose_missing) and stream status changes.
    """
    CREATE TABLE crowd_observations (
        id             INTEGER PRIMARY KEY,
        stream_id      TEXT NOT NULL,
        vehicle_id     TEXT NOT NULL,
        at_s           REAL NOT NULL,
        observed_at_s  REAL NOT NULL,
        lat_deg        REAL NOT NULL,
        lon_deg        REAL NOT NULL,
        count          INTEGER NOT NULL,
        radius_m       REAL NOT NULL,
        density_per_m2 REAL NOT NULL,
        confidence     REAL NOT NULL,
        zone_id        TEXT
    );
    CREATE INDEX crowd_observations_at ON crowd_observations (at_s);
    CREATE INDEX crowd_observations_vehicle_at ON crowd_observations (vehicle_id, at_s);
    CREATE TABLE zone_counts (
        id               INTEGER PRIMARY KEY,
        zone_id          TEXT NOT NULL,
        at_s             REAL NOT NULL,
        count            INTEGER NOT NULL,
        capacity_persons INTEGER NOT NULL,
        over_capacity    INTEGER NOT NULL CHECK (over_capacity IN (0, 1))
    );
    CREATE INDEX zone_counts_zone_at ON zone_counts (zone_id, at_s);
    CREATE TABLE gatherings (
        gathering_id     TEXT PRIMARY KEY,
        zone_id          TEXT NOT NULL,
        status           TEXT NOT NULL CHECK (status IN ('gathering', 'dispersed')),
        started_at_s     REAL NOT NULL,
        detected_at_s    REAL NOT NULL,
        ended_at_s       REAL,
        count            INTEGER NOT NULL,
        peak_count       INTEGER NOT NULL,
        capacity_persons INTEGER NOT NULL,
        reason           TEXT NOT NULL,
        end_reason       TEXT,
        updated_at_s     REAL NOT NULL
    );
    CREATE INDEX gatherings_zone ON gatherings (zone_id, started_at_s);
    CREATE TABLE view_counts (
        id            INTEGER PRIMARY KEY,
        stream_id     TEXT NOT NULL,
        vehicle_id    TEXT NOT NULL,
        at_s          REAL NOT NULL,
        captured_at_s REAL NOT NULL,
        frame_index   INTEGER NOT NULL,
        count_in_view INTEGER NOT NULL,
        unique_seen   INTEGER NOT NULL,
        placed        INTEGER NOT NULL,
        pose_missing  INTEGER NOT NULL CHECK (pose_missing IN (0, 1))
    );
    CREATE INDEX view_counts_stream_at ON view_counts (stream_id, at_s);
    CREATE TABLE stream_status (
        id            INTEGER PRIMARY KEY,
        stream_id     TEXT NOT NULL,
        vehicle_id    TEXT NOT NULL,
        at_s          REAL NOT NULL,
        state         TEXT NOT NULL,
        message       TEXT NOT NULL,
        reported_at_s REAL
    );
    CREATE INDEX stream_status_stream_at ON stream_status (stream_id, at_s);
    """,
    # 5: the crowd response: each response and every transition with its cause, alerts for operators and officers,
    # every thermal reading (a screening hint), every loudspeaker broadcast
    """
    CREATE TABLE responses (
        response_id  TEXT PRIMARY KEY,
        zone_id      TEXT NOT NULL,
        gathering_id TEXT NOT NULL,
        vehicle_id   TEXT,
        state        TEXT NOT NULL,
        outcome      TEXT,
        reason       TEXT NOT NULL DEFAULT '',
        count        INTEGER,
        lat_deg      REAL,
        lon_deg      REAL,
        started_at_s REAL NOT NULL,
        ended_at_s   REAL,
        updated_at_s REAL NOT NULL
    );
    CREATE TABLE response_steps (
        id          INTEGER PRIMARY KEY,
        response_id TEXT NOT NULL,
        at_s        REAL NOT NULL,
        state       TEXT NOT NULL,
        cause       TEXT NOT NULL,
        by          TEXT NOT NULL,
        data_json   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX response_steps_response ON response_steps (response_id, id);
    CREATE TABLE alerts (
        alert_id    TEXT PRIMARY KEY,
        at_s        REAL NOT NULL,
        kind        TEXT NOT NULL,
        severity    TEXT NOT NULL,
        text        TEXT NOT NULL,
        zone_id     TEXT,
        vehicle_id  TEXT,
        response_id TEXT,
        data_json   TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX alerts_at ON alerts (at_s);
    CREATE TABLE thermal_readings (
        id            INTEGER PRIMARY KEY,
        response_id   TEXT NOT NULL,
        at_s          REAL NOT NULL,
        shot          INTEGER NOT NULL,
        person_id     INTEGER NOT NULL,
        lat_deg       REAL NOT NULL,
        lon_deg       REAL NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('measured', 'unmeasured')),
        temp_c        REAL,
        uncertainty_c REAL,
        fever         INTEGER,
        reason        TEXT NOT NULL
    );
    CREATE INDEX thermal_readings_response ON thermal_readings (response_id);
    CREATE TABLE broadcasts (
        broadcast_id TEXT PRIMARY KEY,
        response_id  TEXT NOT NULL,
        vehicle_id   TEXT NOT NULL,
        method       TEXT NOT NULL,
        status       TEXT NOT NULL,
        text         TEXT NOT NULL,
        repeat       INTEGER NOT NULL,
        duration_s   REAL,
        reason       TEXT NOT NULL DEFAULT '',
        requested_at_s REAL NOT NULL,
        updated_at_s REAL NOT NULL
    );
    """,
    # 6: the web map: its users (argon2 hashes, roles) and the operators' acknowledgements of alerts
    """
    CREATE TABLE users (
        name          TEXT PRIMARY KEY,
        role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
        password_hash TEXT NOT NULL,
        created_at_s  REAL NOT NULL,
        updated_at_s  REAL NOT NULL
    );
    CREATE TABLE alert_acks (
        alert_id   TEXT PRIMARY KEY,
        acked_by   TEXT NOT NULL,
        acked_at_s REAL NOT NULL,
        note       TEXT NOT NULL DEFAULT ''
    );
    """,
    # 7: counts carry their uncertainty: a zone count's bounds, a crowd observation's estimate and how it was made
    """
    ALTER TABLE zone_counts ADD COLUMN count_low REAL;
    ALTER TABLE zone_counts ADD COLUMN count_high REAL;
    ALTER TABLE crowd_observations ADD COLUMN count_estimate REAL;
    ALTER TABLE crowd_observations ADD COLUMN count_sigma REAL;
    ALTER TABLE crowd_observations ADD COLUMN count_method TEXT;
    """,
    # 8: grid management: the grid in force (its units and their officers), every alert's notices to officers, every
    # attempt of every delivery (webhook, email, sms), acknowledgements and escalations (core/notices.py)
    """
    CREATE TABLE grid_units (
        unit_id          TEXT PRIMARY KEY,
        level            TEXT NOT NULL CHECK (level IN ('district', 'street', 'community', 'cell')),
        parent_id        TEXT,
        name             TEXT NOT NULL,
        officer_id       TEXT NOT NULL,
        capacity_persons INTEGER,
        dwell_s          REAL,
        geometry_json    TEXT NOT NULL,
        source           TEXT NOT NULL,
        loaded_at_s      REAL NOT NULL
    );
    CREATE TABLE officers (
        officer_id  TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        webhook_url TEXT,
        email       TEXT,
        sms_number  TEXT,
        loaded_at_s REAL NOT NULL
    );
    CREATE TABLE notices (
        notice_id    TEXT PRIMARY KEY,
        alert_id     TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'unanswered')),
        unit_id      TEXT NOT NULL,
        level        TEXT NOT NULL,
        officer_id   TEXT NOT NULL,
        deadline_s   REAL,
        escalations  INTEGER NOT NULL,
        reason       TEXT NOT NULL DEFAULT '',
        created_at_s REAL NOT NULL,
        updated_at_s REAL NOT NULL
    );
    CREATE INDEX notices_alert ON notices (alert_id);
    CREATE TABLE deliveries (
        delivery_id    TEXT NOT NULL,
        attempt        INTEGER NOT NULL,
        notice_id      TEXT NOT NULL,
        officer_id     TEXT NOT NULL,
        channel        TEXT NOT NULL CHECK (channel IN ('webhook', 'email', 'sms')),
        address        TEXT NOT NULL,
        status         TEXT NOT NULL CHECK (status IN ('sending', 'delivered', 'failed', 'cancelled')),
        reason         TEXT NOT NULL DEFAULT '',
        retry_at_s     REAL,
        duration_s     REAL,
        requested_at_s REAL NOT NULL,
        updated_at_s   REAL NOT NULL,
        PRIMARY KEY (delivery_id, attempt)
    );
    CREATE INDEX deliveries_notice ON deliveries (notice_id);
    CREATE TABLE notice_acks (
        id         INTEGER PRIMARY KEY,
        notice_id  TEXT NOT NULL,
        alert_id   TEXT NOT NULL,
        at_s       REAL NOT NULL,
        by         TEXT NOT NULL,
        via        TEXT NOT NULL CHECK (via IN ('callback', 'operator')),
        officer_id TEXT,
        note       TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX notice_acks_notice ON notice_acks (notice_id);
    CREATE TABLE escalations (
        id           INTEGER PRIMARY KEY,
        notice_id    TEXT NOT NULL,
        at_s         REAL NOT NULL,
        from_unit    TEXT NOT NULL,
        from_level   TEXT NOT NULL,
        from_officer TEXT NOT NULL,
        to_unit      TEXT NOT NULL,
        to_level     TEXT NOT NULL,
        to_officer   TEXT NOT NULL,
        reason       TEXT NOT NULL
    );
    CREATE INDEX escalations_notice ON escalations (notice_id);
    """,
    # 9: the risk map (every level change with its reasons, health officials' inputs), venue occupancy, purges of old
    # records (what, when, by which retention rule), and time indexes for reports, the audit export and purges
    """
    CREATE TABLE risk_levels (
        id           INTEGER PRIMARY KEY,
        area_id      TEXT NOT NULL,
        kind         TEXT NOT NULL CHECK (kind IN ('cell', 'community', 'zone')),
        at_s         REAL NOT NULL,
        level        TEXT NOT NULL CHECK (level IN ('green', 'blue', 'yellow', 'orange', 'red')),
        previous     TEXT,
        reasons_json TEXT NOT NULL,
        values_json  TEXT NOT NULL,
        trigger      TEXT NOT NULL
    );
    CREATE INDEX risk_levels_at ON risk_levels (at_s);
    CREATE INDEX risk_levels_area ON risk_levels (area_id, at_s);
    CREATE TABLE risk_inputs (
        input_id       TEXT PRIMARY KEY,
        at_s           REAL NOT NULL,
        unit_id        TEXT NOT NULL,
        by             TEXT NOT NULL,
        cases          INTEGER NOT NULL DEFAULT 0,
        close_contacts INTEGER NOT NULL DEFAULT 0,
        lockdown       INTEGER CHECK (lockdown IN (0, 1)),
        note           TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX risk_inputs_at ON risk_inputs (at_s);
    CREATE TABLE venue_counts (
        id            INTEGER PRIMARY KEY,
        venue_id      TEXT NOT NULL,
        entrance_id   TEXT NOT NULL,
        at_s          REAL NOT NULL,
        entered       INTEGER NOT NULL,
        exited        INTEGER NOT NULL,
        occupancy     INTEGER NOT NULL,
        limit_persons INTEGER NOT NULL,
        over_limit    INTEGER NOT NULL CHECK (over_limit IN (0, 1)),
        note          TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX venue_counts_venue_at ON venue_counts (venue_id, at_s);
    CREATE TABLE purges (
        id           INTEGER PRIMARY KEY,
        at_s         REAL NOT NULL,
        rule         TEXT NOT NULL,
        table_name   TEXT NOT NULL,
        days         REAL NOT NULL,
        cutoff_s     REAL NOT NULL,
        rows_deleted INTEGER NOT NULL
    );
    CREATE INDEX zone_counts_at ON zone_counts (at_s);
    CREATE INDEX view_counts_at ON view_counts (at_s);
    CREATE INDEX events_at ON events (at_s);
    CREATE INDEX commands_at ON commands (requested_at_s);
    CREATE INDEX thermal_readings_at ON thermal_readings (at_s);
    CREATE INDEX responses_started ON responses (started_at_s);
    CREATE INDEX notices_created ON notices (created_at_s);
    """,
    # 10: alerts' evidence snapshots (shell/snapshots.py): the file of each (relative to the database's folder), every
    # person in it blurred by the vision worker that served it (vision/privacy.py); purged with their files
    """
    CREATE TABLE snapshots (
        alert_id       TEXT PRIMARY KEY,
        at_s           REAL NOT NULL,
        stream_id      TEXT NOT NULL,
        path           TEXT NOT NULL,
        people_blurred INTEGER NOT NULL CHECK (people_blurred >= 0),
        width_px       INTEGER NOT NULL,
        height_px      INTEGER NOT NULL,
        captured_at_s  REAL,
        frame_index    INTEGER
    );
    CREATE INDEX snapshots_at ON snapshots (at_s);
    """,
)


TABLES = ("vehicles", "link_changes", "commands", "events", "mission_runs", "schedules", "patrol_runs",
          "crowd_observations", "zone_counts", "gatherings", "view_counts", "stream_status", "responses",
          "response_steps", "alerts", "thermal_readings", "broadcasts", "risk_levels", "risk_inputs", "venue_counts",
          "purges", "snapshots")
