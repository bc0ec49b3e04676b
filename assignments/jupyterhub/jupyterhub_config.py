"""JupyterHub for a class taking the mnist-widgets course, on one machine with system users.

Run as root from the venv that holds JupyterHub and the kit (docs/jupyterhub.md, "One
machine"): ``/opt/mnist-widgets/.venv/bin/jupyterhub -f /etc/jupyterhub/jupyterhub_config.py``.
This file's folder also holds ``course/`` (nbgrader's course id and exchange, for every
server), and ``grader/``, ``instructor/`` and ``student/`` (each kind of server's own
Jupyter settings).

- Users log in with their system account (PAM); each gets a JupyterLab with the kit and
  the MNIST files (``MNIST_WIDGETS_DATA``), started from the venv by absolute path.
- The course's gradebook lives with a grader account, ``grader-mnist-widgets``, whose
  Jupyter server runs as a hub *service* named like the course (nbgrader requires that).
  Instructors (the ``formgrade-mnist-widgets`` group) open it from the hub's Services menu
  and find the formgrader and the create-assignment panel there.
- Students' servers run neither the formgrader nor the course list and show neither
  panel; instructors' own servers run no formgrader and list the course once, as the
  service. Homes are closed (mode 700) before each server starts.

Kubernetes uses docs/jupyterhub/values.yaml instead of this file.
"""

import os
import pwd
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

COURSE = "mnist-widgets"
GRADER = f"grader-{COURSE}"
INSTRUCTORS = ["instructor1"]
STUDENTS = ["student1", "student2"]

HERE = Path(__file__).resolve().parent
# The venv JupyterHub runs from holds the kit, JupyterLab and nbgrader: every server and
# the grader's service start from it by absolute path (a service's PATH is the hub's).
BIN = Path(sys.prefix) / "bin"
PATH = f"{BIN}:/usr/local/bin:/usr/bin:/bin"
# MNIST as filled by `mnist-widgets data fetch mnist --dir /srv/data`; a value the hub was
# started with wins.
DATA = os.environ.get("MNIST_WIDGETS_DATA", "/srv/data")

c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(INSTRUCTORS + STUDENTS)
c.Authenticator.admin_users = set(INSTRUCTORS)

# The groups name the course: nbgrader reads "formgrade-<course>" (instructors) and
# "nbgrader-<course>" (students) through JupyterHubAuthPlugin.
c.JupyterHub.load_groups = {
    f"formgrade-{COURSE}": {"users": INSTRUCTORS},
    f"nbgrader-{COURSE}": {"users": STUDENTS},
}
c.JupyterHub.load_roles = [
    {
        "name": f"formgrade-{COURSE}",
        "description": "instructors open the grader's service; their servers list it",
        "groups": [f"formgrade-{COURSE}"],
        "scopes": [
            f"access:services!service={COURSE}",
            "list:services",
            f"read:services!service={COURSE}",
        ],
    },
    {
        # The grader's service: nbgrader's course list calls its own formgrader with the
        # service's token, JupyterHubAuthPlugin reads the grader's groups (none: the course
        # is listed once) and `nbgrader db student add` adds students to their group.
        # Listing the grader here creates its hub user (it has no password to log in).
        "name": f"grader-{COURSE}",
        "services": [COURSE],
        "users": [GRADER],
        "scopes": [
            f"access:services!service={COURSE}",
            f"read:users:groups!user={GRADER}",
            "list:services",
            "list:groups",
            f"groups!group=nbgrader-{COURSE}",
        ],
    },
]


def jupyter_config_path(spawner) -> str:
    """The settings of this user's own server: the instructor's or the student's."""
    groups = {group.name for group in spawner.user.groups}
    profile = "instructor" if f"formgrade-{COURSE}" in groups else "student"
    return f"{HERE / profile}:{HERE / 'course'}"


def close_home(spawner) -> None:
    """Close the user's home to other users (mode 700) before their server starts."""
    home = Path(pwd.getpwnam(spawner.user.name).pw_dir)
    if home.is_dir() and home.stat().st_mode & 0o077:
        home.chmod(0o700)


# Every user's own server: JupyterLab from the venv, the data, the profile's settings.
c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {
    "PATH": PATH,
    "MNIST_WIDGETS_DATA": DATA,
    "JUPYTER_CONFIG_PATH": jupyter_config_path,
}
c.Spawner.pre_spawn_hook = close_home
# A class logging in at once on a few cores starts JupyterLab slowly: wait for it.
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 90
# The server's own token: the default `server` role (activity, access to itself), plus
# what JupyterHubAuthPlugin reads: the user's groups and the course's service. The token
# holds only those of these scopes its user holds (students hold no services scopes).
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    "read:users:groups!user",
    "list:services",
    f"read:services!service={COURSE}",
]
# Limits: the default LocalProcessSpawner does NOT enforce cpu_limit or mem_limit (it only
# passes them on as CPU_LIMIT and MEM_LIMIT variables). SystemdSpawner enforces them with
# cgroups (pip install jupyterhub-systemdspawner, then uncomment the next line); on
# Kubernetes, KubeSpawner does (values.yaml). Autograding's caps come from the sealed
# grading sandbox, whatever the spawner.
# c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
c.Spawner.cpu_limit = 2  # the course's timings assume two cores per student
c.Spawner.mem_limit = "4G"

# The grader account's server, as a service. Its working folder is the course folder
# (nbgrader_config.py, source/, the gradebook), owned by the grader and closed to others.
# Autograding runs in this server's process tree, each notebook in the grading sandbox.
c.JupyterHub.services = [
    {
        "name": COURSE,
        "url": "http://127.0.0.1:9999",
        "command": [str(BIN / "jupyterhub-singleuser")],
        "user": GRADER,
        "cwd": f"/home/{GRADER}/{COURSE}",
        "environment": {
            "PATH": PATH,
            "JUPYTERHUB_DEFAULT_URL": "/lab",
            "MNIST_WIDGETS_DATA": DATA,
            "JUPYTER_CONFIG_PATH": f"{HERE / 'grader'}:{HERE / 'course'}",
            "MNIST_WIDGETS_HUB_FILES": str(HERE),
        },
        "oauth_no_confirm": True,
    }
]
