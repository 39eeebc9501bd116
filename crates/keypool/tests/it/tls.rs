//! `rediss://` (issue 20): a real `redis-server` with a TLS port and a certificate authority made
//! in the test; the pool connects when told to trust that CA, and a wrong CA is a clear error.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use keypool::{RedisOptions, RedisStore};

use crate::fixtures::{Killed, prefix, random_id, tool};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate it signed for 127.0.0.1, and an unrelated CA.
pub fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for (key, crt, cn) in [
        ("ca.key", "ca.crt", "bftest-ca"),
        ("other.key", "other.crt", "other-ca"),
    ] {
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        args.extend(["-keyout", key, "-out", crt, "-days", "1", "-subj"]);
        let subject = format!("/CN={cn}");
        args.push(&subject);
        openssl(dir, &args);
    }
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &args);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-extfile",
            "san.ext",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_connects_with_the_named_ca_and_a_wrong_ca_is_a_clear_error() {
    if !tool("redis-server") || !tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Killed(
        Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--tls-port", &port.to_string()])
            .args([
                "--tls-cert-file",
                "server.crt",
                "--tls-key-file",
                "server.key",
            ])
            .args(["--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Bounded wait for the server to listen.
    for attempt in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        assert!(attempt < 99, "redis-server did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("rediss://127.0.0.1:{port}/");
    let id = random_id();
    let options = |ca: &str| RedisOptions {
        prefix: prefix(id),
        ca_pem: Some(std::fs::read(dir.path().join(ca)).unwrap()),
        ..RedisOptions::default()
    };
    let store = RedisStore::connect(&url, options("ca.crt"))
        .await
        .unwrap_or_else(|e| panic!("TLS with the named CA: {e}"));
    assert!(!store.is_degraded());
    assert!(
        store.live_processes() >= 1,
        "the heartbeat went through TLS"
    );
    drop(store);

    let wrong = RedisStore::connect(&url, options("other.crt"))
        .await
        .map(|_| ())
        .unwrap_err()
        .to_string()
        .to_lowercase();
    assert!(
        wrong.contains("certificate") || wrong.contains("issuer"),
        "a wrong CA says so: {wrong}"
    );
}
