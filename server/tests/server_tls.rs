//! HTTPS with `--tls-cert/--tls-key` and mutual TLS with `--tls-client-ca`, against the real
//! binary with certificates made by the `openssl` CLI and requests made by `curl` (both are
//! installed by `.ci/run`).

use std::path::Path;
use std::process::Command;

use strata_tests::server_harness::{http_request, Strata};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_strata"))
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by it.
fn make_certs(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=strata-test-ca",
    ]);
    openssl(dir, &ca);
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        let (key, csr, crt, extf) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=strata-test"]);
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "2",
                "-extfile",
                &extf,
            ],
        );
    }
}

/// `curl` over HTTPS; returns (HTTP status or 0 when the connection failed, body).
fn curl(dir: &Path, url: &str, client_cert: bool) -> (u16, String) {
    let mut c = Command::new("curl");
    c.current_dir(dir)
        .args(["-sS", "--max-time", "20", "--cacert", "ca.crt"])
        .args(["-w", "\n%{http_code}"]);
    if client_cert {
        c.args(["--cert", "client.crt", "--key", "client.key"]);
    }
    let out = c
        .arg(url)
        .output()
        .expect("curl is installed (.ci/run installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn https_and_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_certs(d);
    let (cert, key, ca) = (d.join("server.crt"), d.join("server.key"), d.join("ca.crt"));
    let s = Strata::start(
        bin(),
        &d.join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
    .unwrap();
    let base = format!("https://{}", s.addr);
    let (code, body) = curl(d, &format!("{base}/-/ready"), false);
    assert_eq!(code, 200, "{body}");
    let (code, body) = curl(d, &format!("{base}/api/v1/query?query=1%2B1"), false);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"2\""), "{body}");
    // Plain HTTP on the TLS port gets no HTTP answer; the server keeps serving.
    let plain = http_request(s.addr, "GET", "/-/ready", &[], b"");
    assert!(plain.map_or(true, |r| r.status == 0 || r.status >= 400));
    assert_eq!(curl(d, &format!("{base}/-/healthy"), false).0, 200);
    drop(s);

    // Mutual TLS: no client certificate, no connection; with one signed by the CA, 200.
    let s = Strata::start(
        bin(),
        &d.join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-client-ca",
            ca.to_str().unwrap(),
        ],
    )
    .unwrap();
    let base = format!("https://{}", s.addr);
    let (code, _) = curl(d, &format!("{base}/-/ready"), false);
    assert_eq!(code, 0, "a client without a certificate was served");
    let (code, body) = curl(d, &format!("{base}/-/ready"), true);
    assert_eq!(code, 200, "{body}");
}

#[test]
fn bad_tls_files_stop_startup_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "junk\n").unwrap();
    let out = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--tls-cert", junk.to_str().unwrap(), "--tls-key"])
        .arg(&junk)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("junk.pem"), "{err}");
    let out = Command::new(bin())
        .args(["serve", "--tls-cert", "x.pem"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--tls-key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
