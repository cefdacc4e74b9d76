set -euo pipefail
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
# The JVM sizes itself from the host (there is no /sys in the sandbox to read the cgroup from):
# cap its heap. javac runs with the serial GC; the program with the default (G1, the JIT's tiers).
export JAVA_TOOL_OPTIONS="-Xmx256m"
java -version 2>&1 | grep -v JAVA_TOOL_OPTIONS | sed -n 1p
javac -J-XX:+UseSerialGC -d classes Main.java
java -cp classes Main
rm -rf out && java -XX:+UseSerialGC -XX:ActiveProcessorCount=1 -cp classes Main | tail -1
echo "WORKLOAD-OK java"
