#!/usr/bin/env bash
# Java for the dbt `spark` target's local Spark session (pyspark 4.3 runs on Java 17
# or 21). A no-op when `java` 17+ is on the PATH; as root on Debian, installs the
# distribution's OpenJDK 17 runtime (headless) with apt-get. Nothing else downloads
# anything: pyspark's jars come with the pinned wheel in requirements.lock.
set -euo pipefail

version() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }

if command -v java >/dev/null 2>&1 && (( $(version) >= 17 )); then
    exit 0
fi
if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "java.sh: Java 17 or newer is needed for the Spark target (install a JRE 17+)" >&2
    exit 1
fi
echo "java.sh: installing openjdk-17-jre-headless" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
java -version
