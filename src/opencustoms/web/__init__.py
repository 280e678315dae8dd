"""The officer dashboard and the public verification page: server-rendered Jinja2 + htmx pages on the API's app.

``opencustoms.web.app.install(app)`` mounts the static files (htmx and Leaflet vendored, no CDN) and the page routers.
Pages call the services only (adapters hold no logic).
"""
