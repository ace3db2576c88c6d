#!/usr/bin/env bash
# Run a real, single-node Apache Kafka broker (KRaft mode, no ZooKeeper) for
# tests, developers and CI. No Docker and no Kafka tarball here, so the broker
# is assembled from the org.apache.kafka jars on Maven Central (see
# scripts/kafka/pom.xml), cached, and run with the local Java 17+.
#
# Usage: scripts/kafka.sh install|start|stop|status|reset
#
#   install  resolve the jars once into the cache (quick no-op when cached)
#   start    install if needed, format storage if new, start the broker in the
#            background and wait until it really answers; the last line of
#            stdout is the bootstrap address, e.g. 127.0.0.1:19092
#   stop     SIGTERM, up to 30 s for a clean shutdown, then SIGKILL
#   status   exit 0 if the broker is running and answering, 1 otherwise
#   reset    stop, then delete its data, logs and config
#
# Environment:
#   KAFKA_PORT      client port (default 19092); the KRaft controller listens
#                   on KAFKA_PORT+1. Both bind to 127.0.0.1 only.
#   KAFKA_DIR       state dir: config, data, logs, pid (default <repo>/.kafka)
#   ALPR_CACHE_DIR  jar cache root (default ~/.cache/alpr)
#   KAFKA_HEAP_OPTS JVM heap flags for the broker (default -Xms256m -Xmx512m)
#   KAFKA_START_TIMEOUT  seconds to wait for the broker to answer (default 90)
#   KAFKA_PROBE_TIMEOUT  seconds one readiness probe (a short-lived JVM) may
#                   take (default 30; a loaded host needs more)
#   JAVA_HOME       used if set, otherwise `java` from PATH
#
# Several brokers can run side by side as long as each has its own KAFKA_DIR
# and KAFKA_PORT (tests/support/kafka_broker.py does exactly that).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
POM="$SCRIPT_DIR/kafka/pom.xml"

# The pom is the single source of truth for the version, so the cache dir
# name follows it automatically.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)"
[[ -n "$KAFKA_VERSION" ]] || { echo "kafka.sh: no <kafka.version> in $POM" >&2; exit 1; }

# Absolute paths throughout: the pid check matches the broker's command line
# against the config path, which must not depend on the caller's cwd.
CACHE_ROOT="$(realpath -m "${ALPR_CACHE_DIR:-$HOME/.cache/alpr}")"
INSTALL_DIR="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIBS_DIR="$INSTALL_DIR/libs"
# The marker holds a hash of the pom: editing the pom (an extra jar, a new
# log4j) re-resolves even when the Kafka version stays the same.
MARKER="$INSTALL_DIR/.installed"

KAFKA_DIR="$(realpath -m "${KAFKA_DIR:-$REPO_ROOT/.kafka}")"
KAFKA_PORT="${KAFKA_PORT:-19092}"
HOST=127.0.0.1
DATA_DIR="$KAFKA_DIR/data"
LOG_DIR="$KAFKA_DIR/logs"
CONFIG="$KAFKA_DIR/server.properties"
LOG4J_CONFIG="$KAFKA_DIR/log4j2.properties"
# log4j2 picks the config parser from the file extension: keep .properties.
TOOLS_LOG4J_CONFIG="$KAFKA_DIR/log4j2-tools.properties"
PID_FILE="$KAFKA_DIR/kafka.pid"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
PROBE_TIMEOUT="${KAFKA_PROBE_TIMEOUT:-30}"
STOP_TIMEOUT=30

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  JAVA="$JAVA_HOME/bin/java"
else
  JAVA=java
fi

# Exit code for "the port is taken by something else", so callers that pick
# a random port (the pytest helper) can retry with another one.
EXIT_PORT_BUSY=3

log() { echo "kafka.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Kafka 4.x brokers are built for Java 17; say so plainly instead of
# leaving an UnsupportedClassVersionError in a log file.
check_java() {
  local version
  version="$("$JAVA" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java.specification.version = //p')" \
    || die "cannot run $JAVA; install Java 17+ or set JAVA_HOME"
  local major="${version%%.*}"
  if ! [[ "$major" =~ ^[0-9]+$ ]] || (( major < 17 )); then
    die "Kafka $KAFKA_VERSION needs Java 17 or newer, $JAVA is '${version:-unknown}'"
  fi
}

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

is_installed() {
  [[ -f "$MARKER" && "$(cat "$MARKER")" == "$(pom_hash)" ]]
}

cmd_install() {
  if is_installed; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found; it is needed once to fetch the Kafka jars"
  mkdir -p "$INSTALL_DIR"
  # Two parallel first runs (CI shards, two terminals) must not resolve into
  # the same dir at once; the second waits, then finds the marker.
  exec 8>"$INSTALL_DIR/.install.lock"
  flock 8
  if is_installed; then
    exec 8>&-
    return 0
  fi
  log "resolving Kafka $KAFKA_VERSION jars with Maven into $LIBS_DIR (once)"
  # Resolve into a scratch dir and swap it in, so an interrupted download
  # never leaves a half-filled libs dir that looks complete.
  local tmp="$INSTALL_DIR/libs.tmp.$$"
  rm -rf "$tmp"
  # -f keeps Maven's target/ out of the repo root; it never builds anything.
  # (Debian's Maven 3.8 emits stray colour codes even with -B; strip them.)
  if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" 2>&1 \
        | sed 's/\x1b\[[0-9;]*m//g' >&2; then
    rm -rf "$tmp" "$SCRIPT_DIR/kafka/target"
    die "Maven could not resolve the Kafka jars"
  fi
  rm -rf "$SCRIPT_DIR/kafka/target" "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  pom_hash >"$MARKER"
  exec 8>&-
  log "installed $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars"
}

# Pid of the broker started from this KAFKA_DIR, or nothing. The pid file
# alone is not trusted: after a reboot or a kill -9 the pid may belong to an
# unrelated process, so the command line must name our server.properties.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 0
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  [[ -r "/proc/$pid/cmdline" ]] || return 0
  if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "kafka.Kafka $CONFIG"; then
    echo "$pid"
  fi
}

# The port this KAFKA_DIR's broker was configured with; a running broker is
# reported at its real port even if KAFKA_PORT now says something else.
configured_port() {
  sed -n "s|^listeners=PLAINTEXT://$HOST:\([0-9]*\),.*|\1|p" "$CONFIG" 2>/dev/null | head -n1
}

port_open() {
  # bash's /dev/tcp: a connect probe with no extra tools and no JVM start.
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# Run one of Kafka's CLI classes (prefix with `timeout N` as needed). A small
# heap and C1-only JIT make these short-lived JVMs start noticeably faster;
# they log errors only, to stderr.
tool_cmd() {
  TOOL=("$JAVA" -Xmx128m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
        -Dlog4j2.configurationFile="$TOOLS_LOG4J_CONFIG"
        -cp "$LIBS_DIR/*")
}

# "Answering" means an admin client gets real metadata back: the broker has
# caught up with the controller and serves requests, not merely that the
# port accepts connections.
broker_answers() {
  local port="$1" out
  port_open "$port" || return 1
  tool_cmd
  out="$(timeout "$PROBE_TIMEOUT" "${TOOL[@]}" org.apache.kafka.tools.BrokerApiVersionsCommand \
           --bootstrap-server "$HOST:$port" 2>/dev/null)" || return 1
  # The tool lists the brokers present in the metadata it got back; ours
  # shows up there only once it is registered and unfenced.
  grep -q "(id: 1 " <<<"$out"
}

write_configs() {
  local port="$1" cport=$(( $1 + 1 ))
  mkdir -p "$DATA_DIR" "$LOG_DIR"
  # Rewritten on every start, so changing KAFKA_PORT or these settings needs
  # no reset. Static controller.quorum.voters (rather than the dynamic
  # quorum of --standalone) keeps the ports out of the stored metadata,
  # which is what lets the port change between runs.
  cat >"$CONFIG" <<EOF
# Generated by scripts/kafka.sh on every start; edit the script, not this.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$cport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listeners=PLAINTEXT://$HOST:$port,CONTROLLER://$HOST:$cport
advertised.listeners=PLAINTEXT://$HOST:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA_DIR

# Test-friendly single-node settings.
num.partitions=3
auto.create.topics.enable=true
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Consumers join a group without the default 3 s wait for more members.
group.initial.rebalance.delay.ms=0
# Tests delete topics to clean up.
delete.topic.enable=true
# After a kill -9 the controller refuses the restarted broker until the old
# registration's session expires (default 9 s, the whole of a restart's
# extra wait); one node on loopback can afford a shorter session.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
EOF

  # Kafka's own distribution ships a log4j2 config; the Maven jars do not.
  # Without one log4j2 prints only errors to the console, so log to a file.
  cat >"$LOG4J_CONFIG" <<EOF
# Generated by scripts/kafka.sh.
status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $LOG_DIR/server.log
appender.file.filePattern = $LOG_DIR/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
# Per-request and state-change chatter is noise for tests.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
EOF
  # CLI tools: errors only, on stderr.
  cat >"$TOOLS_LOG4J_CONFIG" <<'EOF'
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m (%c)%n
rootLogger.level = ERROR
rootLogger.appenderRef.err.ref = STDERR
EOF
}

format_storage_if_new() {
  # meta.properties is what the storage tool writes; its presence means the
  # dir belongs to a cluster already and must keep its id.
  [[ -f "$DATA_DIR/meta.properties" ]] && return 0
  # Kafka cluster ids are 16 random bytes in URL-safe base64 without padding
  # (what `kafka-storage random-uuid` prints), made here without a JVM start.
  # Like Kafka's own generator, skip ids starting with "-": the storage
  # tool's argument parser would take one for an option.
  local cluster_id="-"
  while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done
  log "formatting $DATA_DIR (cluster id $cluster_id)"
  tool_cmd
  "${TOOL[@]}" kafka.tools.StorageTool format --config "$CONFIG" \
    --cluster-id "$cluster_id" >"$LOG_DIR/format.log" 2>&1 \
    || { cat "$LOG_DIR/format.log" >&2; die "formatting storage failed"; }
}

# server.log is appended to across runs; remember where this run begins so
# a failure shows this run's lines, not the previous run's shutdown.
server_log_lines() {
  if [[ -f "$LOG_DIR/server.log" ]]; then wc -l <"$LOG_DIR/server.log"; else echo 0; fi
}

print_log_tail() {
  local from="$1"
  if [[ -s "$LOG_DIR/kafka.out" ]]; then
    log "---- $LOG_DIR/kafka.out ----"
    tail -n 20 "$LOG_DIR/kafka.out" >&2
  fi
  local lines
  lines="$(tail -n "+$(( from + 1 ))" "$LOG_DIR/server.log" 2>/dev/null | tail -n 40)"
  if [[ -n "$lines" ]]; then
    log "---- last lines of $LOG_DIR/server.log ----"
    echo "$lines" >&2
  fi
}

cmd_start() {
  mkdir -p "$KAFKA_DIR"
  # Serialise start/stop on one KAFKA_DIR: parallel test processes sharing
  # a dir must end up with one broker, not two fighting over the data dir.
  exec 9>"$KAFKA_DIR/.kafka.sh.lock"
  flock 9

  local pid port
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    port="$(configured_port)"
    if broker_answers "$port"; then
      log "broker already running (pid $pid) on $HOST:$port"
      echo "$HOST:$port"
      return 0
    fi
    die "broker process $pid exists but does not answer on $HOST:$port; try: $0 stop"
  fi
  rm -f "$PID_FILE"

  check_java
  cmd_install
  port="$KAFKA_PORT"
  if ! [[ "$port" =~ ^[0-9]+$ ]] || (( port < 1 || port > 65534 )); then
    die "KAFKA_PORT must be a port number below 65535, got '$port'"
  fi
  local p
  for p in "$port" $(( port + 1 )); do
    if port_open "$p"; then
      log "port $HOST:$p is already in use by another process"
      exit "$EXIT_PORT_BUSY"
    fi
  done

  write_configs "$port"
  format_storage_if_new

  log "starting Kafka $KAFKA_VERSION broker on $HOST:$port (dir $KAFKA_DIR)"
  local t0=$SECONDS log_from
  log_from="$(server_log_lines)"
  # setsid: the broker gets its own session, so a Ctrl-C in the terminal or
  # the exit of the calling test process does not take it down; `stop` does.
  # stdin/stdout/stderr are all redirected so callers that capture our
  # output (subprocess.run) are not kept waiting on pipes the JVM holds,
  # and fd 9 is closed so the JVM does not keep the start/stop lock.
  # No -Dcom.sun.management.jmxremote: JMX would open another port.
  # The subshell is not a process-group leader (no job control in a
  # script), so setsid execs in place and $! is the JVM's own pid.
  # shellcheck disable=SC2086
  ( exec setsid "$JAVA" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} \
      -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
      -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
      -Dkafka.logs.dir="$LOG_DIR" \
      -cp "$LIBS_DIR/*" kafka.Kafka "$CONFIG" \
      </dev/null >"$LOG_DIR/kafka.out" 2>&1 9>&- ) &
  pid=$!
  echo "$pid" >"$PID_FILE"

  # Wait first for the port (cheap), then for a real admin round trip.
  while true; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      print_log_tail "$log_from"
      die "broker exited during startup"
    fi
    if (( SECONDS - t0 >= START_TIMEOUT )); then
      print_log_tail "$log_from"
      log "broker did not answer within ${START_TIMEOUT}s; stopping it"
      stop_pid "$pid"
      rm -f "$PID_FILE"
      exit 1
    fi
    if port_open "$port" && broker_answers "$port"; then
      break
    fi
    sleep 0.3
  done
  log "broker up (pid $pid) after $(( SECONDS - t0 ))s"
  echo "$HOST:$port"
}

stop_pid() {
  local pid="$1" waited=0
  kill -TERM "$pid" 2>/dev/null || return 0
  # Kafka shuts down cleanly on SIGTERM (flushes logs, so the next start
  # needs no log recovery); give it time before forcing it.
  while kill -0 "$pid" 2>/dev/null; do
    if (( waited >= STOP_TIMEOUT * 10 )); then
      log "broker $pid still running after ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$(( waited + 1 ))
  done
  # Wait for the kernel to reap it (SIGKILL is asynchronous) so the ports
  # and the data dir lock are really free when we return.
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

cmd_stop() {
  [[ -d "$KAFKA_DIR" ]] || return 0
  exec 9>"$KAFKA_DIR/.kafka.sh.lock"
  flock 9
  local pid
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PID_FILE"
    log "broker not running"
    return 0
  fi
  log "stopping broker (pid $pid)"
  stop_pid "$pid"
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid port
  pid="$(running_pid)"
  if [[ -z "$pid" ]]; then
    echo "not running"
    return 1
  fi
  port="$(configured_port)"
  if [[ -n "$port" ]] && broker_answers "$port"; then
    echo "running (pid $pid) on $HOST:$port"
    return 0
  fi
  echo "process $pid is running but the broker does not answer on $HOST:${port:-?}"
  return 1
}

cmd_reset() {
  cmd_stop
  # Delete only what this script creates, never the whole KAFKA_DIR
  # blindly: a mistyped KAFKA_DIR must not wipe someone's home.
  rm -rf "$DATA_DIR" "$LOG_DIR"
  rm -f "$CONFIG" "$LOG4J_CONFIG" "$TOOLS_LOG4J_CONFIG" "$PID_FILE" \
    "$KAFKA_DIR/.kafka.sh.lock"
  rmdir "$KAFKA_DIR" 2>/dev/null || true
  log "reset $KAFKA_DIR"
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    reset) cmd_reset ;;
    *)
      echo "usage: $0 install|start|stop|status|reset" >&2
      exit 2
      ;;
  esac
}

main "$@"
