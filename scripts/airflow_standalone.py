"""`make airflow`: Airflow's UI and scheduler on this machine, with the project's DAGs.

Runs `airflow standalone` with the same settings the demo uses (data under
``data/``; run `make demo` first to have a shop and runs to look at), waits
until the API server is healthy and prints the address and login. Ctrl+C stops it.

``--screenshot PATH`` instead starts it, saves a headless-Chromium picture of the
daily DAG's grid page (for the README) and stops (`make screenshot`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from devkit.local_airflow import DAG_ID, airflow_env, init_metadata, standalone
from devkit.sandbox_api import SandboxApi
from devkit.screenshot import screenshot
from nurture.config import load_settings
from nurture.generate.calendar import DEFAULT_END_DATE, ShopCalendar

PORT = int(os.environ.get("NURTURE_AIRFLOW_PORT", "8080"))


# Flags that keep Chromium off the network it cannot reach here, and headless.
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshot", type=Path, help="save the DAG grid page as a PNG and stop")
    args = parser.parse_args()
    # The demo's CRM destination pushes to a sandbox audience API, alive while Airflow runs.
    with SandboxApi() as crm:
        env = _env(crm.url, screenshot=bool(args.screenshot))
        logs = Path(env["AIRFLOW_HOME"]) / "service-logs"
        init_metadata(env, logs / "init.log")
        with standalone(env, logs / "standalone.log"):
            if args.screenshot:
                screenshot(f"http://127.0.0.1:{PORT}/dags/{DAG_ID}", args.screenshot)
                print(f"screenshot: {args.screenshot}")
                return
            _print_login(Path(env["AIRFLOW_HOME"]), logs)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


def _env(crm_url: str, screenshot: bool) -> dict[str, str]:
    settings = load_settings()
    # The demo shop has a fixed calendar; a real shop (its own URL) runs on the open schedule.
    demo = ShopCalendar.ending(DEFAULT_END_DATE, 365)
    calendar = None if "NURTURE_SHOP_DB_URL" in os.environ else (demo.start, demo.end)
    env = airflow_env(settings, api_port=PORT, calendar=calendar, crm_url=crm_url)
    if screenshot:  # no login page in the picture: everyone is admin, on loopback only
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
    return env


def _print_login(home: Path, logs: Path) -> None:
    passwords = home / "simple_auth_manager_passwords.json.generated"
    login = json.loads(passwords.read_text()) if passwords.exists() else {}
    print(f"Airflow is up: http://127.0.0.1:{PORT}")
    for user, password in login.items():
        print(f"  login: {user} / {password}")
    print(f"  logs:  {logs / 'standalone.log'}\nPress Ctrl+C to stop.")


if __name__ == "__main__":
    main()
