"""nbgrader settings of students' servers: which courses a student is in comes from the hub.

JupyterHubAuthPlugin asks the hub for the user's groups (``nbgrader-<course>``): a student
lists, fetches and submits only the courses of their groups. Their server token may read
their own groups (``Spawner.server_token_scopes`` in jupyterhub_config.py).
"""

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.Authenticator.plugin_class = "nbgrader.auth.JupyterHubAuthPlugin"
