"""JupyterHub on one machine (The Littlest JupyterHub, or a plain JupyterHub with system
users) for a class with nbgrader: the formgrader runs as a hub service.

After the nbgrader demo "one class, multiple graders". The service's name must be the
course id, and the group that may open it must be called ``formgrade-<course id>``.
Create the system user ``grader-mnist-widgets`` first, with the course folder (a copy of
this repository's ``assignments/``) in its home, and the exchange:

    sudo mkdir -p /srv/nbgrader/exchange && sudo chmod 777 /srv/nbgrader/exchange
"""

c = get_config()  # noqa: F821 - provided by traitlets when JupyterHub loads this file

COURSE = "mnist-widgets"
INSTRUCTORS = ["instructor1", "instructor2"]

c.Authenticator.admin_users = set(INSTRUCTORS[:1])
c.Authenticator.allowed_users = set(INSTRUCTORS)  # add students, or use an LMS/OAuth login
c.Spawner.default_url = "/lab"

c.JupyterHub.load_groups = {f"formgrade-{COURSE}": INSTRUCTORS}
c.JupyterHub.load_roles = [
    {
        "name": f"formgrade-{COURSE}",
        "groups": [f"formgrade-{COURSE}"],
        "scopes": [
            f"access:services!service={COURSE}",
            "list:services",
            f"read:services!service={COURSE}",
        ],
    },
    # nbgrader's course list in each user's server asks the hub which services exist
    {"name": "server", "scopes": ["inherit"]},
]

# The grader's notebook server, run by the hub as a service: /services/mnist-widgets/
c.JupyterHub.services = [
    {
        "name": COURSE,
        "url": "http://127.0.0.1:9999",
        "command": ["jupyterhub-singleuser", "--debug"],
        "user": f"grader-{COURSE}",
        "cwd": f"/home/grader-{COURSE}",
        "environment": {"JUPYTERHUB_DEFAULT_URL": "/lab"},
    }
]
