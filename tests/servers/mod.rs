//! Real XMPP servers for interop tests: Prosody and ejabberd (Debian's packages), each
//! instance self-contained on 127.0.0.1.
//!
//! [`Server::start`] makes a fresh directory under the system temp dir holding the
//! instance's config, data, logs, pid file and a self-signed certificate for `localhost`
//! (SAN DNS `localhost` and IP `127.0.0.1`, made with rcgen), picks free ports, starts the
//! server and waits until both its ports accept connections. Each instance has its own
//! ports, directory and (ejabberd) Erlang node name, cookie and distribution port, so any
//! number of them can run side by side, and next to system-wide services on 5222.
//!
//! What every instance offers: virtual host `localhost`; a c2s port with STARTTLS, which is
//! required, and a direct-TLS port (XEP-0368); in-band registration (XEP-0077) without
//! rate limits; SCRAM; roster, disco, ping, presence, vCard, private storage, caps, carbons,
//! blocking, stream management and CSI.
//!
//! - Prosody: `allow_registration = true`, `internal_hashed` storage, which offers
//!   `SCRAM-SHA-1` and `PLAIN` (`SCRAM-SHA-1-PLUS` too on TLS 1.2).
//! - ejabberd: `auth_password_format: plain`, so that it offers what the recorded fixtures
//!   show: `PLAIN` and `SCRAM-SHA-1`, `-256`, `-512`, each also as `-PLUS`. (With
//!   `auth_password_format: scram` it offers only the family of `auth_scram_hash`,
//!   `SCRAM-SHA-1` by default.) `registration_timeout: infinity`, no `mod_fail2ban`.
//!
//! [`Server::restart`] stops an instance and starts it again on the same directory, data,
//! certificate and ports (ejabberd: the same Erlang node and mnesia directory), for tests of
//! reconnection and stream resumption; [`Server::stop`] alone leaves it down.
//!
//! The server runs under a small `sh` watchdog whose stdin is a pipe held by this process:
//! if the test process dies, even by SIGKILL, the pipe closes and the watchdog stops the
//! server (SIGTERM, SIGKILL 5 s later); the next `Server::start` in a later run removes
//! such a process's leftover directories. Set `XMPP_SERVERS_KEEP=1` to keep the instance
//! directories after the servers stop, for a look at their logs, and
//! `XMPP_SERVERS_VERBOSE=1` to have each start reported on stderr.
#![allow(dead_code)]

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The virtual host every instance serves.
pub const DOMAIN: &str = "localhost";
/// How long [`Server::start`] waits for the ports. ejabberd starts in a few seconds, but
/// has taken over 20 on a loaded 2-core machine (load average 19, the load tests running).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`Server::stop`] waits after SIGTERM before SIGKILL.
const TERM_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines of each log file in [`Server::log_tail`].
const TAIL_LINES: usize = 40;
/// Set (to anything) to keep instance directories after the servers stop.
const KEEP_ENV: &str = "XMPP_SERVERS_KEEP";

/// Runs the server (`$2...`) with stdin from /dev/null and output appended to `$1`, prints
/// its PID, and waits for it. A background subshell waits for this shell's stdin (a pipe held
/// by the test process) to close, then stops the server: so the server cannot outlive the
/// test process. The shell exits, with the server's status, only once the server is gone.
const WATCHDOG: &str = r#"log=$1
shift
exec 3<&0
"$@" </dev/null 3<&- >>"$log" 2>&1 &
pid=$!
echo "$pid"
(
    cat <&3 >/dev/null 2>&1
    kill -TERM "$pid" 2>/dev/null
    sleep 5
    kill -KILL "$pid" 2>/dev/null
) </dev/null >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait "$pid"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"#;

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Prosody,
    Ejabberd,
}

impl Kind {
    /// Both, in a fixed order.
    pub const ALL: [Kind; 2] = [Kind::Prosody, Kind::Ejabberd];

    /// `"prosody"` or `"ejabberd"`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prosody => "prosody",
            Kind::Ejabberd => "ejabberd",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the server's programs are.
#[derive(Clone, Debug)]
enum Install {
    Prosody {
        prosody: PathBuf,
    },
    Ejabberd {
        erl: PathBuf,
        /// The directory holding ejabberd's OTP application (`ejabberd-<version>/`), which is
        /// what `ERL_LIBS` must name.
        erl_libs: PathBuf,
    },
}

/// The Erlang side of an ejabberd instance.
#[derive(Debug)]
struct ErlangNode {
    /// `name@localhost`.
    node: String,
    cookie: String,
    /// The distribution port: the node listens there (127.0.0.1) without epmd.
    dist_port: u16,
}

/// A running server instance. Stopped, and its directory removed, on drop.
#[derive(Debug)]
pub struct Server {
    kind: Kind,
    install: Install,
    dir: PathBuf,
    config: PathBuf,
    ca_pem_path: PathBuf,
    logs: Vec<PathBuf>,
    starttls_port: u16,
    direct_tls_port: u16,
    erlang: Option<ErlangNode>,
    /// The server process itself.
    pid: u32,
    /// The watchdog shell, parent of the server.
    watchdog: Option<Child>,
    /// The write end of the watchdog's stdin; closing it makes the watchdog stop the server.
    lifeline: Option<ChildStdin>,
}

impl Server {
    /// Whether the server's programs are installed.
    pub fn installed(kind: Kind) -> bool {
        find_install(kind).is_ok()
    }

    /// Starts a fresh instance and waits until it accepts connections.
    pub fn start(kind: Kind) -> Result<Server, String> {
        let install = find_install(kind)?;
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(remove_stale_instance_dirs);
        // A port picked as free may be taken by someone else before the server binds it;
        // then start again with other ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match start_once(kind, &install) {
                Ok(server) => return Ok(server),
                Err(Failure {
                    message,
                    port_clash: true,
                }) if attempt < 3 => {
                    eprintln!("{kind}: a port was taken, starting again: {message}");
                }
                Err(Failure { message, .. }) => return Err(message),
            }
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// `"localhost"`.
    pub fn domain(&self) -> &str {
        DOMAIN
    }

    /// The c2s port: plain TCP, then STARTTLS (required).
    pub fn starttls_port(&self) -> u16 {
        self.starttls_port
    }

    /// The c2s port with TLS from the first byte (XEP-0368).
    pub fn direct_tls_port(&self) -> u16 {
        self.direct_tls_port
    }

    /// The instance directory (config, data, logs, certificate).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The PID of the server process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's self-signed certificate, PEM: what a client must trust.
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem_path
    }

    /// The contents of [`Server::ca_pem_path`].
    pub fn ca_pem(&self) -> String {
        fs::read_to_string(&self.ca_pem_path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.ca_pem_path.display()))
    }

    /// Stops the server (SIGTERM, SIGKILL after 5 s) and waits until it is gone; then its
    /// ports refuse connections. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut watchdog) = self.watchdog.take() else {
            return;
        };
        // The watchdog exits once the server has exited and it reaped it, so the server's
        // PID stays reserved (at worst a zombie) as long as the watchdog runs: signalling it
        // is safe until then.
        if matches!(watchdog.try_wait(), Ok(None)) {
            signal(self.pid, "TERM");
            let deadline = Instant::now() + TERM_TIMEOUT;
            while matches!(watchdog.try_wait(), Ok(None)) && Instant::now() < deadline {
                sleep(Duration::from_millis(5));
            }
            if matches!(watchdog.try_wait(), Ok(None)) {
                eprintln!(
                    "{}: no exit {TERM_TIMEOUT:?} after SIGTERM, sending SIGKILL",
                    self.kind
                );
                signal(self.pid, "KILL");
                let deadline = Instant::now() + Duration::from_secs(5);
                while matches!(watchdog.try_wait(), Ok(None)) && Instant::now() < deadline {
                    sleep(Duration::from_millis(5));
                }
                if matches!(watchdog.try_wait(), Ok(None)) {
                    let _ = watchdog.kill();
                }
            }
        }
        let _ = watchdog.wait();
        // Lets the watchdog's stdin watcher (already killed, or about to find its server
        // gone) finish.
        drop(self.lifeline.take());
    }

    /// Whether the server process runs: started (or restarted) and neither stopped nor
    /// exited since. Not whether it accepts connections: [`Server::start`] and
    /// [`Server::restart`] wait for that.
    pub fn is_running(&self) -> bool {
        let Some(watchdog) = &self.watchdog else {
            return false;
        };
        // The watchdog, our child, exits as soon as the server has: its PID stays ours (at
        // worst a zombie) until `stop` reaps it, so looking it up cannot find someone else.
        match fs::read_to_string(format!("/proc/{}/stat", watchdog.id())) {
            // `pid (comm) state ...`; comm may hold spaces and parentheses.
            Ok(stat) => stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z" && state != "X"),
            Err(_) if Path::new("/proc/self").exists() => false,
            // No /proc: whether the server's PID takes signals.
            Err(_) => Command::new("/bin/sh")
                .args([
                    "-c",
                    "kill -0 \"$1\" 2>/dev/null",
                    "kill",
                    &self.pid.to_string(),
                ])
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
        }
    }

    /// Stops the server as [`Server::stop`] does (if it runs), then starts it again on the
    /// same directory, config, data (accounts, rosters, everything stored), certificate and
    /// ports, (ejabberd) with the same Erlang node name, cookie, distribution port and
    /// mnesia directory, under a new watchdog; waits until it accepts connections again, as
    /// [`Server::start`] does. The ports do not move, since clients keep the old ones: if one
    /// was taken meanwhile this fails, saying which, and the server stays stopped.
    pub fn restart(&mut self) -> Result<(), String> {
        let began = Instant::now();
        self.stop();
        let stopped_in = began.elapsed();
        let kind = self.kind;
        let taken: Vec<String> = self
            .ports()
            .into_iter()
            .filter_map(|(what, port)| {
                TcpListener::bind((Ipv4Addr::LOCALHOST, port))
                    .err()
                    .map(|e| format!("127.0.0.1:{port} ({what}): {e}"))
            })
            .collect();
        if !taken.is_empty() {
            return Err(format!(
                "{kind}: cannot restart on its ports, taken while it was stopped: {}; it keeps \
                 its ports (clients know them), so it stays stopped",
                taken.join(", ")
            ));
        }
        if kind == Kind::Prosody {
            // Left behind only by a SIGKILL; Prosody would take it over anyway, unless locked.
            let _ = fs::remove_file(self.dir.join("prosody.pid"));
        }
        // Only what this run writes counts when looking for the ready line and port clashes.
        let offsets: Vec<u64> = self
            .logs
            .iter()
            .map(|log| fs::metadata(log).map_or(0, |m| m.len()))
            .collect();
        let command = self.command()?;
        let console_log = self.dir.join("console.log");
        let result = spawn_watched(self, command, &console_log)
            .map_err(Failure::from)
            .and_then(|()| wait_until_ready(self, &offsets));
        if let Err(Failure {
            message,
            port_clash,
        }) = result
        {
            self.stop();
            return Err(if port_clash {
                format!(
                    "{kind}: cannot restart: one of its ports ({}) was taken while it was \
                     stopped; it keeps its ports (clients know them), so it stays stopped\n\
                     {message}",
                    self.ports()
                        .iter()
                        .map(|(what, port)| format!("{what} {port}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!("{kind}: restarting: {message}")
            });
        }
        if std::env::var_os("XMPP_SERVERS_VERBOSE").is_some() {
            eprintln!(
                "{kind}: restarted in {:?}, {stopped_in:?} of it stopping (pid {}, STARTTLS \
                 127.0.0.1:{}, direct TLS 127.0.0.1:{}, {})",
                began.elapsed(),
                self.pid,
                self.starttls_port,
                self.direct_tls_port,
                self.dir.display()
            );
        }
        Ok(())
    }

    /// The ports the instance listens on, with what each is for.
    fn ports(&self) -> Vec<(&'static str, u16)> {
        let mut ports = vec![
            ("c2s STARTTLS", self.starttls_port),
            ("c2s direct TLS", self.direct_tls_port),
        ];
        if let Some(node) = &self.erlang {
            ports.push(("Erlang distribution", node.dist_port));
        }
        ports
    }

    /// The command that runs the server on this instance's files (the same each start).
    fn command(&self) -> Result<Command, String> {
        Ok(match &self.install {
            Install::Prosody { prosody } => {
                let mut c = Command::new(prosody);
                // -F: stay in the foreground (the default too, without `daemonize` set).
                c.arg("--config").arg(&self.config).arg("-F");
                c
            }
            Install::Ejabberd { erl, erl_libs } => {
                let node = self
                    .erlang
                    .as_ref()
                    .expect("an ejabberd instance has a node");
                let mut c = erlang_command(erl, erl_libs, &self.dir);
                c.env("EJABBERD_CONFIG_PATH", &self.config)
                    .env("EJABBERD_LOG_PATH", &self.logs[0])
                    .env("EJABBERD_PID_PATH", self.dir.join("ejabberd.pid"))
                    .args(["-sname", &node.node, "-setcookie", &node.cookie, "-noinput"])
                    // No epmd: the node listens on its own port, on loopback only.
                    .args([
                        "-erl_epmd_port",
                        &node.dist_port.to_string(),
                        "-start_epmd",
                        "false",
                    ])
                    .args(["-kernel", "inet_dist_use_interface", "{127,0,0,1}"])
                    // The schema names the node: the same name finds the same data again.
                    .arg("-mnesia")
                    .arg("dir")
                    .arg(format!(
                        "\"{}\"",
                        erlang_string_chars(&self.dir.join("mnesia"))?
                    ))
                    .args(["-s", "ejabberd"]);
                c
            }
        })
    }

    /// The last lines of the server's logs, for failure messages.
    pub fn log_tail(&self) -> String {
        logs_tail(&self.logs)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os(KEEP_ENV).is_some() {
            eprintln!("{}: kept {}", self.kind, self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Why a start failed; `port_clash` when trying again with other ports may help.
struct Failure {
    message: String,
    port_clash: bool,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            port_clash: false,
        }
    }
}

fn start_once(kind: Kind, install: &Install) -> Result<Server, Failure> {
    let began = Instant::now();
    let dir = make_instance_dir(kind)?;
    // From here on `server` owns the directory: an early return removes it (and stops the
    // server once one runs).
    let mut server = Server {
        kind,
        install: install.clone(),
        config: PathBuf::new(),
        ca_pem_path: dir.join("certs").join("localhost.crt"),
        logs: Vec::new(),
        starttls_port: 0,
        direct_tls_port: 0,
        erlang: None,
        pid: 0,
        watchdog: None,
        lifeline: None,
        dir,
    };
    let dir = server.dir.clone();
    let certs = dir.join("certs");
    create_dir(&certs)?;
    let (cert_pem, key_pem) = self_signed_certificate()?;
    let key_path = certs.join("localhost.key");
    write(&server.ca_pem_path, &cert_pem)?;
    write(&key_path, &key_pem)?;

    let ports = free_ports(if kind == Kind::Ejabberd { 3 } else { 2 })?;
    server.starttls_port = ports[0];
    server.direct_tls_port = ports[1];
    let console_log = dir.join("console.log");

    match install {
        Install::Prosody { .. } => {
            let data = dir.join("data");
            create_dir(&data)?;
            let log = dir.join("prosody.log");
            server.config = dir.join("prosody.cfg.lua");
            write(
                &server.config,
                &prosody_config(
                    &dir,
                    &data,
                    &log,
                    &certs,
                    &server.ca_pem_path,
                    &key_path,
                    ports[0],
                    ports[1],
                ),
            )?;
            server.logs = vec![log, console_log.clone()];
        }
        Install::Ejabberd { .. } => {
            let logs = dir.join("logs");
            create_dir(&logs)?;
            let pem = certs.join("server.pem");
            write(&pem, &format!("{cert_pem}{key_pem}"))?;
            server.config = dir.join("ejabberd.yml");
            write(&server.config, &ejabberd_config(&pem, ports[0], ports[1]))?;
            let suffix = unique_suffix();
            server.erlang = Some(ErlangNode {
                node: format!("xs_ejabberd_{suffix}@localhost"),
                cookie: format!("xs_cookie_{suffix}_{:x}", nanos()),
                dist_port: ports[2],
            });
            let log = logs.join("ejabberd.log");
            server.logs = vec![log, logs.join("error.log"), console_log.clone()];
        }
    }
    let command = server.command()?;
    spawn_watched(&mut server, command, &console_log)?;
    wait_until_ready(&mut server, &[])?;
    if std::env::var_os("XMPP_SERVERS_VERBOSE").is_some() {
        eprintln!(
            "{kind}: started in {:?} (pid {}, STARTTLS 127.0.0.1:{}, direct TLS 127.0.0.1:{}, {})",
            began.elapsed(),
            server.pid,
            server.starttls_port,
            server.direct_tls_port,
            server.dir.display()
        );
    }
    Ok(server)
}

#[allow(clippy::too_many_arguments)]
fn prosody_config(
    dir: &Path,
    data: &Path,
    log: &Path,
    certs: &Path,
    cert: &Path,
    key: &Path,
    starttls_port: u16,
    direct_tls_port: u16,
) -> String {
    format!(
        r#"-- Written by tests/servers: one throwaway instance.
run_as_root = true
pidfile = {pidfile}
data_path = {data}
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = {log} }} }}
certificates = {certs}
ssl = {{ certificate = {cert}; key = {key}; }}

interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {starttls_port} }}
c2s_direct_tls_ports = {{ {direct_tls_port} }}
c2s_require_encryption = true

authentication = "internal_hashed"
storage = "internal"
allow_registration = true

modules_enabled = {{
    "roster"; "saslauth"; "tls"; "disco"; "ping"; "register"; "private";
    "vcard4"; "vcard_legacy"; "pep"; "blocklist"; "carbons"; "smacks"; "csi_simple";
    "time"; "uptime"; "version"; "posix";
}}
-- No server-to-server: nothing to federate with, and it would listen on 5269.
modules_disabled = {{ "s2s"; }}

VirtualHost "{DOMAIN}"
"#,
        pidfile = lua_string(&dir.join("prosody.pid")),
        data = lua_string(data),
        log = lua_string(log),
        certs = lua_string(certs),
        cert = lua_string(cert),
        key = lua_string(key),
    )
}

fn ejabberd_config(pem: &Path, starttls_port: u16, direct_tls_port: u16) -> String {
    format!(
        r#"# Written by tests/servers: one throwaway instance.
hosts:
  - {DOMAIN}
loglevel: info
log_rotate_count: 0
hide_sensitive_log_data: false
certfiles:
  - {pem}
listen:
  -
    port: {starttls_port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    access: c2s
    starttls_required: true
    backlog: 1024
  -
    port: {direct_tls_port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 262144
    access: c2s
    tls: true
    backlog: 1024
auth_method: internal
# plain: ejabberd then offers SCRAM-SHA-1, -256 and -512 (and -PLUS); with scram it offers
# only the family of auth_scram_hash.
auth_password_format: plain
# The default allows one registration per IP every 600 s.
registration_timeout: infinity
s2s_access: none
disable_sasl_mechanisms:
  - "digest-md5"
  - "X-OAUTH2"
acl:
  local:
    user_regexp: ""
  loopback:
    ip:
      - 127.0.0.0/8
      - ::1/128
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  register:
    allow: all
shaper_rules:
  max_user_sessions: 10
  max_user_offline_messages: 100
# No mod_fail2ban: it would ban 127.0.0.1 after failed logins.
modules:
  mod_adhoc: {{}}
  mod_blocking: {{}}
  mod_caps: {{}}
  mod_carboncopy: {{}}
  mod_client_state: {{}}
  mod_disco: {{}}
  mod_last: {{}}
  mod_offline: {{}}
  mod_ping: {{}}
  mod_privacy: {{}}
  mod_private: {{}}
  # PEP (XEP-0163), for PEP avatars (XEP-0084).
  mod_pubsub:
    plugins:
      - flat
      - pep
  mod_register:
    access: register
  mod_roster:
    versioning: true
  mod_stream_mgmt:
    resend_on_timeout: if_offline
  mod_vcard:
    search: false
  mod_vcard_xupdate: {{}}
  mod_version: {{}}
"#,
        pem = yaml_string(pem),
    )
}

/// Starts `command` under the watchdog shell; records the server's PID.
fn spawn_watched(server: &mut Server, command: Command, console_log: &Path) -> Result<(), String> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(console_log)
        .map_err(|e| format!("creating {}: {e}", console_log.display()))?;
    let mut sh = Command::new("/bin/sh");
    sh.arg("-c")
        .arg(WATCHDOG)
        .arg("xmpp-server-watchdog")
        .arg(console_log);
    sh.arg(command.get_program()).args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => sh.env(key, value),
            None => sh.env_remove(key),
        };
    }
    sh.current_dir(command.get_current_dir().unwrap_or(&server.dir))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log);
    let mut child = sh
        .spawn()
        .map_err(|e| format!("{}: starting /bin/sh: {e}", server.kind))?;
    let stdout = child.stdout.take().expect("piped");
    server.lifeline = child.stdin.take();
    server.watchdog = Some(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("{}: reading the server's PID: {e}", server.kind))?;
    server.pid = line.trim().parse().map_err(|_| {
        format!(
            "{}: the watchdog printed no PID ({line:?})\n{}",
            server.kind,
            server.log_tail()
        )
    })?;
    Ok(())
}

/// Waits until the server has started and both c2s ports accept connections, or the server
/// died, or the time is up. Only what the logs gained past `offsets` (one per log file,
/// missing ones 0: a restart's, left by the previous run) tells whether it has started or
/// could not bind a port.
fn wait_until_ready(server: &mut Server, offsets: &[u64]) -> Result<(), Failure> {
    let deadline = Instant::now() + START_TIMEOUT;
    let ports = [server.starttls_port, server.direct_tls_port];
    // ejabberd listens (and the kernel accepts connections) before it has finished
    // starting: before that, registration and login fail (`no_exists passwd`). Its log
    // says when.
    // Prosody opens its ports at the end of its (single-threaded) startup.
    let marker = match server.kind {
        Kind::Ejabberd => Some((server.logs[0].clone(), " is started in the node ")),
        Kind::Prosody => None,
    };
    let mut started = marker.is_none();
    let mut next = 0;
    loop {
        if let Some(watchdog) = server.watchdog.as_mut() {
            if let Ok(Some(status)) = watchdog.try_wait() {
                server.watchdog = None;
                let tail = server.log_tail();
                return Err(Failure {
                    port_clash: looks_like_port_clash(&logs_since(&server.logs, offsets)),
                    message: format!("{} exited during startup ({status})\n{tail}", server.kind),
                });
            }
        }
        if let (false, Some((log, text))) = (started, &marker) {
            started = logs_since(std::slice::from_ref(log), offsets).contains(text);
        }
        while started && next < ports.len() && accepts(ports[next]) {
            next += 1;
        }
        if started && next == ports.len() {
            break;
        }
        if Instant::now() >= deadline {
            let what = if started {
                format!("port {} does not accept connections", ports[next])
            } else {
                "not started".to_owned()
            };
            return Err(Failure {
                port_clash: false,
                message: format!(
                    "{}: {what} {START_TIMEOUT:?} after start\n{}",
                    server.kind,
                    server.log_tail()
                ),
            });
        }
        sleep(Duration::from_millis(10));
    }
    // Prosody keeps running when it cannot bind a port, and someone else's listener on it
    // looks ready: check the log.
    if looks_like_port_clash(&logs_since(&server.logs, offsets)) {
        return Err(Failure {
            port_clash: true,
            message: format!(
                "{}: could not bind its ports\n{}",
                server.kind,
                server.log_tail()
            ),
        });
    }
    Ok(())
}

/// What each of `logs` holds past its offset in `offsets` (0 if missing), joined.
fn logs_since(logs: &[PathBuf], offsets: &[u64]) -> String {
    let mut out = String::new();
    for (i, path) in logs.iter().enumerate() {
        let Ok(bytes) = fs::read(path) else { continue };
        let from = offsets.get(i).map_or(0, |&o| o as usize).min(bytes.len());
        out.push_str(&String::from_utf8_lossy(&bytes[from..]));
        out.push('\n');
    }
    out
}

fn looks_like_port_clash(log: &str) -> bool {
    log.contains("Failed to open server port")
        || log.contains("eaddrinuse")
        || log.contains("Address already in use")
}

fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Sends a signal with `kill` (the shell's builtin).
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("/bin/sh")
        .args([
            "-c",
            "kill -s \"$1\" \"$2\" 2>/dev/null",
            "kill",
            signal,
            &pid.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `erl` with ejabberd's application on the code path and the instance as home.
fn erlang_command(erl: &Path, erl_libs: &Path, dir: &Path) -> Command {
    let mut c = Command::new(erl);
    c.env("ERL_LIBS", erl_libs)
        .env("HOME", dir)
        .env("ERL_CRASH_DUMP", dir.join("erl_crash.dump"))
        .env_remove("ERL_FLAGS")
        .env_remove("ERL_AFLAGS")
        .env_remove("ERL_ZFLAGS")
        .current_dir(dir);
    c
}

/// A path for inside an Erlang string literal (no quotes or backslashes expected).
fn erlang_string_chars(path: &Path) -> Result<String, String> {
    let s = path
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))?;
    Ok(s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A Lua string literal.
fn lua_string(path: &Path) -> String {
    let mut out = String::from("\"");
    for c in path.to_string_lossy().chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A YAML double-quoted string.
fn yaml_string(path: &Path) -> String {
    lua_string(path)
}

/// A self-signed certificate for `localhost` (DNS) and 127.0.0.1 (IP): (cert PEM, key PEM).
fn self_signed_certificate() -> Result<(String, String), String> {
    let mut params = rcgen::CertificateParams::new(vec![DOMAIN.to_owned(), "127.0.0.1".to_owned()])
        .map_err(|e| format!("certificate parameters: {e}"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, DOMAIN);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    // rcgen's default validity ends in 4096, which ejabberd's certificate code cannot handle
    // (its pkix server crashes and every TLS handshake fails with `no_certfile`).
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2049, 12, 31);
    let key = rcgen::KeyPair::generate().map_err(|e| format!("generating a key: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("self-signing: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// `count` distinct free ports on 127.0.0.1, none handed out before by this process.
fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    // Hold every listener until all are chosen, so that the ports differ.
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..100 {
        if ports.len() == count {
            break;
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| format!("binding 127.0.0.1:0: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        if given.insert(port) {
            ports.push(port);
        }
        held.push(listener);
    }
    if ports.len() == count {
        Ok(ports)
    } else {
        Err("found no free ports on 127.0.0.1".to_owned())
    }
}

fn unique_suffix() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn make_instance_dir(kind: Kind) -> Result<PathBuf, String> {
    let base = std::env::temp_dir();
    for _ in 0..100 {
        let dir = base.join(format!(
            "xmpp-sansio-{}-{}",
            kind.name(),
            unique_suffix().replace('_', "-")
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("creating {}: {e}", dir.display())),
        }
    }
    Err(format!("no free directory name under {}", base.display()))
}

/// Removes the directories of instances whose test process is gone (killed before it could
/// clean up; the watchdog stopped the server), if older than a minute. Linux only (/proc).
fn remove_stale_instance_dirs() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| {
            Kind::ALL.iter().find_map(|k| {
                n.strip_prefix(&format!("xmpp-sansio-{}-", k.name()))
                    .map(str::to_owned)
            })
        }) else {
            continue;
        };
        let Some(Ok(pid)) = rest.split('-').next().map(str::parse::<u32>) else {
            continue;
        };
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(60));
        if old
            && entry.file_type().is_ok_and(|t| t.is_dir())
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn create_dir(path: &Path) -> Result<(), String> {
    fs::create_dir_all(path).map_err(|e| format!("creating {}: {e}", path.display()))
}

fn write(path: &Path, contents: &str) -> Result<(), String> {
    fs::write(path, contents).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn logs_tail(logs: &[PathBuf]) -> String {
    let mut out = String::new();
    for path in logs {
        let Ok(bytes) = fs::read(path) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "--- last lines of {} ---", path.display());
        for line in &lines[lines.len().saturating_sub(TAIL_LINES)..] {
            let _ = writeln!(out, "{line}");
        }
    }
    if out.is_empty() {
        out.push_str("(the server wrote no log)\n");
    }
    out
}

/// Finds the server's programs (memoized).
fn find_install(kind: Kind) -> Result<Install, String> {
    static PROSODY: OnceLock<Result<Install, String>> = OnceLock::new();
    static EJABBERD: OnceLock<Result<Install, String>> = OnceLock::new();
    match kind {
        Kind::Prosody => PROSODY.get_or_init(find_prosody).clone(),
        Kind::Ejabberd => EJABBERD.get_or_init(find_ejabberd).clone(),
    }
}

fn find_prosody() -> Result<Install, String> {
    let prosody =
        find_program("prosody").ok_or("prosody is not installed (no `prosody` program)")?;
    Ok(Install::Prosody { prosody })
}

fn find_ejabberd() -> Result<Install, String> {
    let erl = find_program("erl").ok_or("ejabberd is not installed (no `erl` program)")?;
    let mut roots: Vec<PathBuf> = Vec::new();
    // Where ejabberdctl looks (Debian: ERL_LIBS='/usr/lib/x86_64-linux-gnu').
    for ctl in [
        "/usr/sbin/ejabberdctl",
        "/usr/bin/ejabberdctl",
        "/usr/local/sbin/ejabberdctl",
        "/opt/ejabberd/bin/ejabberdctl",
    ] {
        if let Ok(script) = fs::read_to_string(ctl) {
            for line in script.lines() {
                if let Some(value) = line.trim().strip_prefix("ERL_LIBS=") {
                    let value = value.trim_matches(|c| c == '\'' || c == '"');
                    roots.extend(
                        value
                            .split(':')
                            .filter(|v| !v.is_empty() && !v.contains('$'))
                            .map(PathBuf::from),
                    );
                }
            }
        }
    }
    if let Ok(entries) = fs::read_dir("/usr/lib") {
        let mut multiarch: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with("-linux-gnu"))
            })
            .collect();
        multiarch.sort();
        roots.extend(multiarch);
    }
    roots.extend(
        [
            "/usr/lib/erlang/lib",
            "/usr/local/lib/erlang/lib",
            "/usr/lib",
            "/usr/local/lib",
            "/opt/ejabberd/lib",
        ]
        .map(PathBuf::from),
    );
    for root in roots {
        let Ok(entries) = fs::read_dir(&root) else {
            continue;
        };
        let mut apps: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n == "ejabberd" || n.starts_with("ejabberd-"))
                    && p.join("ebin").join("ejabberd.app").is_file()
            })
            .collect();
        apps.sort();
        if !apps.is_empty() {
            return Ok(Install::Ejabberd {
                erl,
                erl_libs: root,
            });
        }
    }
    Err(
        "ejabberd is not installed (no ejabberd-*/ebin/ejabberd.app under /usr/lib/*-linux-gnu, \
         /usr/lib/erlang/lib, ...)"
            .to_owned(),
    )
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
