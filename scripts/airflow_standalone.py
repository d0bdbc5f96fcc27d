"""`make airflow`: Airflow's UI and scheduler on this machine, with the project's DAGs.

Runs `airflow standalone` with the same settings the demo uses (data under
``data/``; run `make demo` first to have a shop and runs to look at), waits
until the API server is healthy and prints the address and login. Ctrl+C stops it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from nurture.config import load_settings
from nurture.export.sandbox_api import SandboxApi
from nurture.generate.calendar import DEFAULT_END_DATE, ShopCalendar
from nurture.local_airflow import AIRFLOW, AirflowApi, airflow_env, init_metadata

PORT = int(os.environ.get("NURTURE_AIRFLOW_PORT", "8080"))


def main() -> None:
    # The demo's CRM destination pushes to a sandbox audience API, alive while Airflow runs.
    with SandboxApi() as crm:
        sys.exit(run_standalone(crm.url))


def run_standalone(crm_url: str) -> int:
    settings = load_settings()
    # The demo shop has a fixed calendar; a real shop (its own URL) runs on the open schedule.
    demo = ShopCalendar.ending(DEFAULT_END_DATE, 365)
    calendar = None if "NURTURE_SHOP_DB_URL" in os.environ else (demo.start, demo.end)
    env = airflow_env(settings, api_port=PORT, calendar=calendar, crm_url=crm_url)
    home = Path(env["AIRFLOW_HOME"])
    logs = home / "service-logs"
    logs.mkdir(parents=True, exist_ok=True)
    init_metadata(env, logs / "init.log")
    with (logs / "standalone.log").open("a") as out:
        proc = subprocess.Popen([AIRFLOW, "standalone"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        AirflowApi(PORT).wait_until_healthy(timeout=240)
        passwords = home / "simple_auth_manager_passwords.json.generated"
        login = json.loads(passwords.read_text()) if passwords.exists() else {}
        print(f"Airflow is up: http://127.0.0.1:{PORT}")
        for user, password in login.items():
            print(f"  login: {user} / {password}")
        print(f"  logs:  {logs / 'standalone.log'}\nPress Ctrl+C to stop.")
        proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    return proc.returncode or 0


if __name__ == "__main__":
    main()
