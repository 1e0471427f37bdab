//! `slipstream-dev postgres`: a PostgreSQL server in the foreground, its URL in
//! `<dir>/database.env` (the owner's only, never printed), gone again after SIGTERM.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slipstream_devkit::free_port;

#[test]
fn postgres_runs_until_sigterm_with_its_url_in_a_private_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = dir.path().join("postgres");
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_slipstream-dev"))
        .args(["postgres", "--port", &port.to_string(), "--dir"])
        .arg(&cluster)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("slipstream-dev postgres");
    let env = cluster.join("database.env");
    let started = Instant::now();
    while !env.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no database.env"
        );
        assert!(server.try_wait().expect("status").is_none(), "it exited");
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(&env).expect("readable");
    let url = text.trim().strip_prefix("DATABASE_URL=").expect("a URL");
    assert!(
        url.starts_with("postgres://slipstream:")
            && url.ends_with(&format!("@127.0.0.1:{port}/slipstream")),
        "{url}"
    );
    let mode = std::fs::metadata(&env)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "database.env is readable by others: {mode:o}"
    );

    let pid = server.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.expect("kill").success());
    let output = server.wait_with_output().expect("it exits");
    assert!(output.status.success(), "{:?}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let password = url.split([':', '@']).nth(2).expect("a password");
    assert!(
        !stdout.contains(password),
        "the password was printed: {stdout}"
    );
    assert!(stdout.contains("database.env"), "{stdout}");
    assert!(!env.exists(), "database.env outlived the server");
}
