"""
harness/auth.py - logins: the broker's password file, the daemon's secret
files, and the settings of the broker snippets the project ships.

Tests of authentication and ACLs run the broker as a user's would be set
up: users made by mosquitto_passwd, the ACL and websockets snippets from
raspbian/ with only their test-specific lines changed, and the daemon's
password_file written 0600 as the README tells. Kept together so that
every such test builds them the same way.
"""

import os
import shutil
import subprocess

from .env import ROOT, HarnessError
from .fixtures import tmppath


def mosquitto_passwd(path, logins):
    """A mosquitto password file at path (made anew, mode 0600) with the
    users of logins ({user: password}), through mosquitto_passwd -b."""
    first = True
    for user, password in logins.items():
        r = subprocess.run(["mosquitto_passwd"] + (["-c"] if first else []) +
                           ["-b", path, user, password],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        if r.returncode != 0:
            raise HarnessError("mosquitto_passwd -b %s %s failed (%d): %s"
                               % (path, user, r.returncode, r.stdout.decode("utf-8", "replace")))
        first = False
    os.chmod(path, 0o600)
    return path


def secret_file(name, text, mode=0o600):
    """A file in the test dir holding text and a newline, with mode (the
    daemon's mqtt.password_file)."""
    path = tmppath(name)
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, mode)
    return path


def conf_settings(path):
    """The setting lines of a mosquitto config file (stripped; blank lines
    and comments left out), for a test to adapt a shipped snippet."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def station_acl(logins):
    """The broker's side of the per-station setup in raspbian/: a password
    file with logins ({user: password}) and a copy of mosquitto-acl.conf
    in the test dir. Returns (password file, ACL file)."""
    passwd = mosquitto_passwd(tmppath("passwd"), logins)
    acl = tmppath("stations.acl")
    shutil.copy(os.path.join(ROOT, "raspbian", "mosquitto-acl.conf"), acl)
    return passwd, acl
