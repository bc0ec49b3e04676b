"""JupyterHub for a class taking the mnist-widgets course: a starting point to adapt.

- every user's server gets the kit and the MNIST files (MNIST_WIDGETS_DATA);
- the course's gradebook lives with a grader account, ``grader-mnist-widgets``, whose
  Jupyter server runs as a hub *service* named like the course (nbgrader requires that):
  instructors in the ``formgrade-mnist-widgets`` group open it from the hub's Services menu
  and find the formgrader and the create-assignment panel there;
- release/fetch/submit/collect go through the exchange on shared storage,
  /srv/nbgrader/exchange (see global_nbgrader_config.py and README.md).

Users, the authenticator and the spawner are yours to choose; the names below are examples.
"""

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

COURSE = "mnist-widgets"
GRADER = f"grader-{COURSE}"
INSTRUCTORS = ["instructor1"]
STUDENTS = ["student1", "student2"]

c.Authenticator.allowed_users = set(INSTRUCTORS + STUDENTS + [GRADER])
c.Authenticator.admin_users = set(INSTRUCTORS)

# Every single-user server (students and instructors): JupyterLab and the data.
c.Spawner.default_url = "/lab"
c.Spawner.environment = {"MNIST_WIDGETS_DATA": "/srv/data"}  # holds mnist/*.gz
c.Spawner.cpu_limit = 2  # the course's timings assume two cores per student
c.Spawner.mem_limit = "4G"

# The group name must start with "formgrade-" followed by the course id.
c.JupyterHub.load_groups = {
    f"formgrade-{COURSE}": {"users": INSTRUCTORS + [GRADER]},
    f"nbgrader-{COURSE}": {"users": STUDENTS},
}
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
    {
        # students' servers find the course through the services API (course list)
        "name": f"nbgrader-{COURSE}",
        "groups": [f"nbgrader-{COURSE}"],
        "scopes": ["list:services", f"read:services!service={COURSE}"],
    },
    {"name": "server", "scopes": ["inherit"]},
]

# The grader account's server, as a service. Its working folder is the course folder: it
# holds nbgrader_config.py (a copy of assignments/nbgrader_config.py), source/ and the
# gradebook. Autograding runs in this server's process tree: give it the cores.
c.JupyterHub.services = [
    {
        "name": COURSE,
        "url": "http://127.0.0.1:9999",
        "command": ["jupyterhub-singleuser", "--debug"],
        "user": GRADER,
        "cwd": f"/home/{GRADER}/{COURSE}",
        "environment": {
            "JUPYTERHUB_DEFAULT_URL": "/lab",
            "MNIST_WIDGETS_DATA": "/srv/data",
        },
        "oauth_no_confirm": True,
    }
]
