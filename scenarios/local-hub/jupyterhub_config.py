# The local JupyterHub the browser scenarios are tested against (scenarios::local_hub starts
# it). Everything it needs comes from the environment the fixture sets; it binds to
# loopback only and keeps its state in SEATRIAL_HUB_DIR.
import os

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)
env = os.environ
state = env["SEATRIAL_HUB_DIR"]

c.JupyterHub.bind_url = "http://127.0.0.1:%s" % env["SEATRIAL_HUB_PORT"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(env["SEATRIAL_HUB_API_PORT"])
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:%s" % env["SEATRIAL_PROXY_API_PORT"]
c.ConfigurableHTTPProxy.command = [env["SEATRIAL_CHP"]]
c.JupyterHub.db_url = "sqlite:///" + os.path.join(state, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(state, "cookie_secret")
c.JupyterHub.pid_file = os.path.join(state, "jupyterhub.pid")

# One password for every user (JupyterHub's dummy authenticator), from the environment.
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = env["SEATRIAL_HUB_PASSWORD"]
c.Authenticator.allow_all = True
# The admins (comma-separated), for the `roles` scenario.
c.Authenticator.admin_users = {name for name in env["SEATRIAL_HUB_ADMINS"].split(",") if name}

# Servers are local processes; homes live in the fixture's directory.
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(state, "home", "{username}")
c.Spawner.args = ["--allow-root"]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

# Profiles, in KubeSpawner's markup (radio inputs named "profile"), so the scenario's
# profile choice is exercised; the choice is appended to profiles.log.
c.Spawner.options_form = """
<div id="profile-list">
  <label><input type="radio" name="profile" value="small" checked> Small (1 CPU, 2Gi)</label>
  <label><input type="radio" name="profile" value="large"> Large (4 CPU, 8Gi)</label>
</div>
"""


def options_from_form(formdata):
    return {"profile": formdata.get("profile", [""])[0]}


def record_profile(spawner):
    with open(os.path.join(state, "profiles.log"), "a") as log:
        log.write("%s %s\n" % (spawner.user.name, spawner.user_options.get("profile", "")))


c.Spawner.options_from_form = options_from_form
c.Spawner.pre_spawn_hook = record_profile
