#!/bin/sh
# Koi's installer: downloads koitab, koid and dashboard for this machine, checks every
# SHA-256 before installing any of them, and sets koid up as a systemd or launchd service.
#
#   curl -fsSL https://github.com/koi-cron/koi/releases/latest/download/install.sh | sh
#   curl -fsSL https://github.com/koi-cron/koi/releases/latest/download/install.sh | sh -s -- --uninstall
#
# Everything runs from main(), called on the last line, so a download cut short runs nothing.
# shellcheck disable=SC2015 # "a && b || die" is meant: die when either fails.
set -eu

DEFAULT_DOWNLOAD_URL="https://github.com/koi-cron/koi/releases/latest/download"
BINARIES="koitab koid dashboard"
LABEL="org.koi.koid"
# On SIGTERM koid gives running jobs 30 s (--grace), then 5 s between SIGTERM and SIGKILL,
# then up to 3 s to report the last runs to the dashboard: 38 s. The service manager must
# wait longer than that before it kills koid.
STOP_TIMEOUT=45

usage() {
  cat <<EOF
Koi installer: installs koitab, koid and dashboard, and runs koid as a service.

Usage:
  curl -fsSL URL/install.sh | sh                      install, or upgrade an install
  curl -fsSL URL/install.sh | sh -s -- --uninstall    remove binaries and service
  sh install.sh [--uninstall | --help]

As root:     binaries in /usr/local/bin, state in /var/lib/koi, and koid as a systemd
             unit (/etc/systemd/system/koid.service) or a launchd daemon
             (/Library/LaunchDaemons/$LABEL.plist).
Without root: ~/.local/bin, ~/.local/share/koi, a systemd user unit
             (~/.config/systemd/user/koid.service) or a launchd agent
             (~/Library/LaunchAgents/$LABEL.plist).

Running it again upgrades the binaries and keeps the koitab, history and keys.
--uninstall keeps KOI_DIR (the koitab, history and keys).

Environment:
  KOI_DOWNLOAD_URL  where the release files and SHA256SUMS are
                    (default $DEFAULT_DOWNLOAD_URL)
  KOI_BIN_DIR       where the binaries go
  KOI_DIR           koid's state directory (the koitab, history, keys)
  KOI_USER          the user jobs run as (default: the one already in \$KOI_DIR/user,
                    else \$SUDO_USER, else you)

For tests and packaging:
  KOI_ROOT          a directory taken as / for a root install's paths
  KOI_OS, KOI_ARCH  the platform (as uname -s and uname -m print it)
  KOI_ASSUME_ROOT   1 or 0: install as if running as root or not
  KOI_SYSTEMCTL, KOI_LAUNCHCTL, KOI_CHOWN
                    the commands used for systemctl, launchctl and chown
EOF
}

say() { printf 'koi: %s\n' "$*"; }
warn() { printf 'koi: warning: %s\n' "$*" >&2; }
die() {
  printf 'koi: error: %s\n' "$*" >&2
  exit 1
}

# ---- platform and layout --------------------------------------------------------------

detect_target() {
  os=${KOI_OS:-$(uname -s)}
  arch=${KOI_ARCH:-$(uname -m)}
  # An x86_64 shell under Rosetta reports x86_64 on Apple silicon: prefer the native binary.
  if [ -z "${KOI_OS:-}${KOI_ARCH:-}" ] && [ "$os" = Darwin ] && [ "$arch" = x86_64 ] &&
    [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
    arch=arm64
  fi
  case $arch in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) die "unsupported architecture \"$arch\": Koi ships x86_64 and aarch64 builds" ;;
  esac
  case $os in
    Linux) target="$arch-unknown-linux-gnu" ;;
    Darwin) target="$arch-apple-darwin" ;;
    *) die "unsupported system \"$os\": Koi ships Linux and macOS builds" ;;
  esac
}

detect_layout() {
  case ${KOI_ASSUME_ROOT:-} in
    1) as_root=1 ;;
    0) as_root=0 ;;
    "") if [ "$(id -u)" = 0 ]; then as_root=1; else as_root=0; fi ;;
    *) die "KOI_ASSUME_ROOT must be 0 or 1, got \"$KOI_ASSUME_ROOT\"" ;;
  esac
  # Paths as the running system sees them (written into the unit), and where they are on
  # disk now: the same, except under KOI_ROOT for a root install.
  if [ "$as_root" = 1 ]; then
    prefix=${KOI_ROOT:-}
    bin_dir=${KOI_BIN_DIR:-/usr/local/bin}
    koi_dir=${KOI_DIR:-/var/lib/koi}
    if [ "$os" = Linux ]; then
      service_file=/etc/systemd/system/koid.service
    else
      service_file=/Library/LaunchDaemons/$LABEL.plist
      log_file=/var/log/koid.log
    fi
  else
    prefix=
    [ -n "${HOME:-}" ] || die "HOME is not set: cannot install without root"
    bin_dir=${KOI_BIN_DIR:-$HOME/.local/bin}
    koi_dir=${KOI_DIR:-$HOME/.local/share/koi}
    if [ "$os" = Linux ]; then
      service_file=$HOME/.config/systemd/user/koid.service
    else
      service_file=$HOME/Library/LaunchAgents/$LABEL.plist
      log_file=$HOME/Library/Logs/koid.log
    fi
  fi
  for path in "$bin_dir" "$koi_dir"; do
    case $path in
      *'"'* | *\\*) die "\"$path\" has a \" or \\, which a service file cannot hold" ;;
      /*) ;;
      *) die "\"$path\" is not an absolute path (KOI_BIN_DIR and KOI_DIR must be)" ;;
    esac
  done
  bin_dir=${bin_dir%/}
  koi_dir=${koi_dir%/}
}

# The service manager to drive, or nothing (with a note) when there is none to drive.
detect_service_manager() {
  manager=
  if [ "$os" = Linux ]; then
    if [ -n "${KOI_SYSTEMCTL:-}" ]; then
      manager=$KOI_SYSTEMCTL
    elif [ -n "$prefix" ]; then
      manager_note="KOI_ROOT is set: systemd was left alone"
    elif ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then
      manager_note="systemd is not running here: start koid yourself (KOI_DIR=$koi_dir $bin_dir/koid)"
    else
      manager=systemctl
    fi
    [ "$as_root" = 1 ] || systemctl_scope=--user
  else
    if [ -n "${KOI_LAUNCHCTL:-}" ]; then
      manager=$KOI_LAUNCHCTL
    elif [ -n "$prefix" ]; then
      manager_note="KOI_ROOT is set: launchd was left alone"
    else
      manager=launchctl
    fi
    if [ "$as_root" = 1 ]; then domain=system; else domain=gui/$(id -u); fi
  fi
}

# ---- the run user ---------------------------------------------------------------------

current_user() {
  id -un 2>/dev/null || id -u
}

choose_run_user() {
  me=$(current_user)
  # sudo names who asked; without root, jobs can only run as the installing user.
  if [ "$as_root" = 1 ]; then default_user=${SUDO_USER:-$me}; else default_user=$me; fi
  run_user=${KOI_USER:-}
  if [ -z "$run_user" ] && [ -f "$prefix$koi_dir/user" ]; then
    # An upgrade keeps the user already chosen: only KOI_USER changes it.
    run_user=$(sed -n '1s/^[[:space:]]*//; 1s/[[:space:]]*$//p' "$prefix$koi_dir/user")
  fi
  [ -n "$run_user" ] || run_user=$default_user
  case $run_user in
    -* | *[[:space:]:/]*) die "bad user name \"$run_user\"" ;;
  esac
  id -u "$run_user" >/dev/null 2>&1 || die "no user \"$run_user\" on this machine (set KOI_USER)"
  if [ "$as_root" = 0 ] && [ "$run_user" != "$me" ] && [ "$run_user" != "$(id -u)" ]; then
    die "without root, jobs can only run as you ($me), not as \"$run_user\""
  fi
  run_group=$(id -gn "$run_user" 2>/dev/null || id -g "$run_user")
}

# ---- download and verify --------------------------------------------------------------

find_tools() {
  if command -v curl >/dev/null 2>&1; then
    downloader=curl
  elif command -v wget >/dev/null 2>&1; then
    downloader=wget
  else
    die "neither curl nor wget is installed: install one of them and run this again"
  fi
  if command -v sha256sum >/dev/null 2>&1; then
    hasher="sha256sum"
  elif command -v shasum >/dev/null 2>&1; then
    hasher="shasum -a 256"
  else
    die "neither sha256sum nor shasum is installed: cannot check the downloads"
  fi
}

download() { # URL FILE
  if [ "$downloader" = curl ]; then
    curl -fsSL --retry 3 -o "$2" "$1" || die "cannot download $1 (curl exit code $?)"
  else
    wget -q -O "$2" "$1" || die "cannot download $1 (wget exit code $?)"
  fi
}

sha256_of() { # FILE
  $hasher "$1" | awk '{ print tolower($1) }'
}

# Downloads every binary and SHA256SUMS into $tmp and checks all of them; installs nothing.
fetch_verified() {
  base=${KOI_DOWNLOAD_URL:-$DEFAULT_DOWNLOAD_URL}
  base=${base%/}
  case $base in
    https://*) ;;
    *) warn "$base is not https: the checksums come from the same place, so they only catch corruption" ;;
  esac
  say "downloading Koi for $target from $base"
  download "$base/SHA256SUMS" "$tmp/SHA256SUMS"
  for name in $BINARIES; do
    download "$base/$name-$target" "$tmp/$name"
  done
  for name in $BINARIES; do
    file="$name-$target"
    expected=$(awk -v f="$file" '$2 == f || $2 == "*" f { print tolower($1); exit }' "$tmp/SHA256SUMS")
    [ -n "$expected" ] || die "SHA256SUMS has no entry for $file: nothing was installed"
    actual=$(sha256_of "$tmp/$name")
    [ "$actual" = "$expected" ] ||
      die "checksum mismatch for $file (expected $expected, got $actual): nothing was installed"
  done
  say "checked the SHA-256 of $(echo "$BINARIES" | sed 's/ /, /g') against SHA256SUMS"
}

# Copies the checked binaries next to their destination, then renames each into place,
# so a running koid keeps its old file and no binary is ever half written.
install_binaries() {
  dest=$prefix$bin_dir
  mkdir -p "$dest" || die "cannot create $dest"
  stage=$(mktemp -d "$dest/.koi-install.XXXXXX") || die "cannot write to $dest"
  for name in $BINARIES; do
    cp "$tmp/$name" "$stage/$name" && chmod 0755 "$stage/$name" ||
      die "cannot copy $name into $dest"
  done
  for name in $BINARIES; do
    if [ -f "$dest/$name" ]; then verb=upgraded; else verb=installed; fi
    mv -f "$stage/$name" "$dest/$name" || die "cannot move $name into $dest"
    say "$verb $dest/$name"
  done
  rmdir "$stage"
  stage=
  if version=$("$dest/koid" --version 2>/dev/null); then
    say "koid reports: $version"
  else
    warn "$dest/koid --version failed: the binary may not run on this machine"
  fi
}

# ---- state directory ------------------------------------------------------------------

# KOI_DIR holds the run key and the koitab that root's koid runs: only its owner may read
# it. Installs before this one told users to chmod 666, so existing files are fixed too.
prepare_koi_dir() {
  dir=$prefix$koi_dir
  if [ -d "$dir" ]; then verb=kept; else verb=created; fi
  mkdir -p "$dir" && chmod 0700 "$dir" || die "cannot create $dir"
  [ "$as_root" = 0 ] || "${KOI_CHOWN:-chown}" "$run_user:$run_group" "$dir" ||
    die "cannot give $dir to $run_user"
  say "$verb $dir (mode 0700, owner $run_user)"

  for file in "$dir"/* "$dir"/.[!.]*; do
    # A symlink in a directory its user owns may point anywhere: never follow one as root.
    [ -f "$file" ] && [ ! -L "$file" ] || continue
    case ${file##*/} in
      apikey | runkey | datakey | dashboard.json) mode=0600 ;;
      *) mode=go-rwx ;;
    esac
    chmod "$mode" "$file" || die "cannot restrict the mode of $file"
  done

  # mktemp creates a new file (never follows a link), and the rename replaces whatever
  # "user" was, so root writes only its own file.
  user_tmp=$(mktemp "$dir/.user.XXXXXX") || die "cannot write to $dir"
  printf '%s\n' "$run_user" >"$user_tmp" && chmod 0600 "$user_tmp" ||
    die "cannot write $dir/user"
  if [ "$as_root" = 1 ]; then
    "${KOI_CHOWN:-chown}" -h "$run_user:$run_group" "$user_tmp" ||
      die "cannot give $dir/user to $run_user"
  fi
  mv -f "$user_tmp" "$dir/user" || die "cannot write $dir/user"
  user_tmp=
  say "wrote $dir/user: jobs run as $run_user"
  if [ "$as_root" = 1 ] && [ "$run_user" = root ]; then
    warn "jobs run as root: run this again with KOI_USER=NAME to run them as NAME"
  fi
}

# ---- service --------------------------------------------------------------------------

# A path as a systemd unit setting takes it: % and $ escaped, quoted if it has spaces.
unit_word() { # PATH ESCAPE_DOLLAR
  word=$(printf '%s' "$1" | sed 's/%/%%/g')
  [ "$2" = 0 ] || word=$(printf '%s' "$word" | sed 's/\$/$$/g')
  case $word in
    *" "*) printf '"%s"' "$word" ;;
    *) printf '%s' "$word" ;;
  esac
}

xml_text() {
  printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'
}

systemd_unit() {
  cat <<EOF
# koid, Koi's cron daemon. Written by Koi's install.sh; running it again rewrites this file.
[Unit]
Description=Koi job scheduler (koid)
Documentation=https://github.com/koi-cron/koi
EOF
  # A user manager has no network-online.target to wait for.
  if [ "$as_root" = 1 ]; then
    printf '%s\n' "After=network-online.target nss-user-lookup.target time-sync.target" \
      "Wants=network-online.target"
    wanted_by=multi-user.target
  else
    wanted_by=default.target
  fi
  cat <<EOF

[Service]
Type=simple
EOF
  # koid runs as the jobs' user, never as root: KOI_DIR belongs to that user, who could
  # otherwise rewrite $KOI_DIR/user and have a root koid run their jobs as anyone.
  if [ "$as_root" = 1 ]; then
    printf '%s\n' "User=$(unit_word "$run_user" 1)" "Group=$(unit_word "$run_group" 1)"
  fi
  cat <<EOF
Environment=$(unit_word "KOI_DIR=$koi_dir" 0)
ExecStart=$(unit_word "$bin_dir/koid" 1)
ExecReload=/bin/kill -HUP \$MAINPID
Restart=on-failure
RestartSec=5s
# On SIGTERM koid starts nothing new, gives running jobs 30 s (--grace) to finish, stops
# each job's process group (SIGTERM, SIGKILL 5 s later), then takes up to 3 s to report to
# the dashboard: 38 s at most, so wait longer than that.
TimeoutStopSec=${STOP_TIMEOUT}s
# Signal koid alone and let it stop its jobs with that grace; the default (control-group)
# would signal every job at once. What a job left running in the background survives a
# restart, as under cron (cronie's unit also uses KillMode=process).
KillMode=process
# No NoNewPrivileges=, ProtectSystem=, ProtectHome= or PrivateTmp=: every job inherits
# them. With NoNewPrivileges a job could no longer run setuid programs (sudo, su, ping)
# as it can under cron; the others would hide or freeze files the job's user may write.

[Install]
WantedBy=$wanted_by
EOF
}

launchd_plist() {
  cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- koid, Koi's cron daemon. Written by Koi's install.sh; running it again rewrites this file. -->
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>$LABEL</string>
EOF
  # As for systemd: a daemon runs as the jobs' user, who owns KOI_DIR, never as root.
  if [ "$as_root" = 1 ]; then
    printf '  <key>UserName</key>\n  <string>%s</string>\n' "$(xml_text "$run_user")"
  fi
  cat <<EOF
  <key>ProgramArguments</key>
  <array>
    <string>$(xml_text "$bin_dir/koid")</string>
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>KOI_DIR</key>
    <string>$(xml_text "$koi_dir")</string>
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <!-- Restart koid when it fails, not when it stops cleanly. -->
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <!-- koid may take 38 s to stop: 30 s for running jobs, 5 s to kill them, 3 s to report. -->
  <key>ExitTimeOut</key>
  <integer>$STOP_TIMEOUT</integer>
  <key>StandardErrorPath</key>
  <string>$(xml_text "$log_file")</string>
</dict>
</plist>
EOF
}

write_service_file() {
  file=$prefix$service_file
  if [ -f "$file" ]; then service_existed=1; else service_existed=0; fi
  mkdir -p "${file%/*}" || die "cannot create ${file%/*}"
  service_tmp=$(mktemp "$file.XXXXXX") || die "cannot write to ${file%/*}"
  if [ "$os" = Linux ]; then systemd_unit >"$service_tmp"; else launchd_plist >"$service_tmp"; fi
  chmod 0644 "$service_tmp" && mv -f "$service_tmp" "$file" || die "cannot write $file"
  service_tmp=
  say "wrote $file"
}

systemctl_run() {
  # shellcheck disable=SC2086 # the scope is one word or none
  "$manager" $systemctl_scope "$@" ||
    die "\"systemctl $systemctl_scope $*\" failed (exit code $?): see the messages above"
}

start_service() {
  if [ -z "$manager" ]; then
    say "$manager_note"
    return
  fi
  if [ "$os" = Linux ]; then
    systemctl_run daemon-reload
    if [ "$service_existed" = 1 ]; then
      systemctl_run enable koid
      systemctl_run restart koid
      say "restarted koid (systemctl ${systemctl_scope:+$systemctl_scope }restart koid)"
    else
      systemctl_run enable --now koid
      say "enabled and started koid (systemctl ${systemctl_scope:+$systemctl_scope }enable --now koid)"
    fi
    if [ "$as_root" = 0 ]; then
      say "note: a user unit starts when you log in; to start koid at boot: loginctl enable-linger $run_user"
    fi
  else
    "$manager" enable "$domain/$LABEL" || die "\"launchctl enable $domain/$LABEL\" failed"
    if [ "$service_existed" = 1 ]; then
      "$manager" bootout "$domain/$LABEL" >/dev/null 2>&1 || true
    fi
    "$manager" bootstrap "$domain" "$prefix$service_file" ||
      die "\"launchctl bootstrap $domain $prefix$service_file\" failed (exit code $?)"
    say "loaded and started $LABEL (launchctl bootstrap $domain)"
  fi
}

# ---- commands -------------------------------------------------------------------------

install_koi() {
  detect_target
  detect_layout
  detect_service_manager
  choose_run_user
  find_tools
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/koi-install.XXXXXX") || die "cannot create a temporary directory"
  fetch_verified
  install_binaries
  prepare_koi_dir
  write_service_file
  start_service
  say "done: koid runs the jobs of $koi_dir/koitab as $run_user"
  if [ "$koi_dir" != /var/lib/koi ]; then
    say "note: koitab looks in /var/lib/koi unless told: export KOI_DIR=$koi_dir"
  fi
  case :${PATH:-}: in
    *:"$bin_dir":*) ;;
    *) say "note: $bin_dir is not in your PATH: add it to use koitab" ;;
  esac
}

uninstall_koi() {
  detect_target
  detect_layout
  detect_service_manager
  file=$prefix$service_file
  if [ -f "$file" ]; then
    if [ -z "$manager" ]; then
      say "$manager_note"
    elif [ "$os" = Linux ]; then
      # shellcheck disable=SC2086
      "$manager" $systemctl_scope disable --now koid ||
        warn "\"systemctl $systemctl_scope disable --now koid\" failed; removing the unit anyway"
      say "stopped and disabled koid"
    else
      "$manager" bootout "$domain/$LABEL" ||
        warn "\"launchctl bootout $domain/$LABEL\" failed; removing the plist anyway"
      say "stopped and unloaded $LABEL"
    fi
    rm -f "$file" || die "cannot remove $file"
    say "removed $file"
    if [ -n "$manager" ] && [ "$os" = Linux ]; then systemctl_run daemon-reload; fi
  fi
  for name in $BINARIES; do
    if [ -e "$prefix$bin_dir/$name" ]; then
      rm -f "$prefix$bin_dir/$name" || die "cannot remove $prefix$bin_dir/$name"
      say "removed $prefix$bin_dir/$name"
    fi
  done
  if [ -d "$prefix$koi_dir" ]; then
    say "kept $prefix$koi_dir (your koitab, run history and keys): delete it yourself if you no longer need them"
  fi
  say "Koi is uninstalled"
}

cleanup() {
  [ -z "${tmp:-}" ] || rm -rf "$tmp"
  [ -z "${stage:-}" ] || rm -rf "$stage"
  [ -z "${user_tmp:-}" ] || rm -f "$user_tmp"
  [ -z "${service_tmp:-}" ] || rm -f "$service_tmp"
}

main() {
  umask 022
  log_file=
  systemctl_scope=
  manager_note=
  tmp=
  stage=
  user_tmp=
  service_tmp=
  trap cleanup EXIT
  trap 'exit 1' HUP INT TERM
  if [ $# -gt 1 ]; then
    printf 'koi: error: one option at most, got "%s" (see --help)\n' "$*" >&2
    exit 2
  fi
  case ${1:-} in
    "") install_koi ;;
    --uninstall) uninstall_koi ;;
    -h | --help) usage ;;
    *)
      printf 'koi: error: unknown option "%s" (see --help)\n' "$1" >&2
      exit 2
      ;;
  esac
}

main "$@"
