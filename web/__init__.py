"""The operators' web map: a client of the station (Flask + Flask-SocketIO on gevent, Leaflet from npm).

web/port.py is the narrow interface it needs of the station (Protocols; groundstation/shell/web_bridge.py implements
them in the station's process, groundstation/shell/remote_port.py over loopback for a web process of its own,
web/fakes.py fakes them); web/api.py the REST API and its OpenAPI document; web/app.py the Flask application
(sessions, roles, CSRF, the page, map tiles); web/fanout.py the numbered live updates over Socket.IO; web/video.py
the video panel's proxy of the vision workers' own MJPEG streams; web/server.py serves it on its own thread;
web/static/ the page. It never imports the station, telemetry, sim, vision or speech.
"""
