//! The service's memory under hostile uploads: a test binary of its own, so
//! that the process's resident size is this test's alone.

use std::time::{Duration, Instant};

use fsa_testkit::files::tenant_with_order;
use fsa_testkit::{Backend, TestApp};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The process's resident set, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// Sends an upload whose first part header never ends: a chunked body of
/// up to `total` bytes of header-like junk, until the server stops reading.
/// Returns the bytes the server took.
async fn endless_header(base: &str, token: &str, wo: &str, total: u64) -> u64 {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.expect("connects");
    let head = format!(
        "POST /api/v1/work-orders/{wo}/files HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("sends its head");
    let mut first =
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\nX-Junk: "
            .to_vec();
    let junk = vec![b'a'; 256 * 1024];
    let mut sent = 0u64;
    while sent < total {
        let body: &[u8] = if first.is_empty() { &junk } else { &first };
        let chunk = [format!("{:x}\r\n", body.len()).as_bytes(), body, b"\r\n"].concat();
        if s.write_all(&chunk).await.is_err() {
            break;
        }
        sent += body.len() as u64;
        first.clear();
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn endless_part_headers_leave_memory_flat_and_neighbours_served() {
    let app = TestApp::start(Backend::Sqlite).await.unwrap();
    let (_, token, wo) = tenant_with_order(&app, "attacker", "basic").await;
    app.create_tenant("neighbour", "basic", "default").await;
    let neighbour = app.login_admin("neighbour").await;
    // Warm up: one of each request, then the idle level.
    let (s, _) = app.get("/api/v1/clients", &neighbour).await;
    assert_eq!(s, 200);
    endless_header(&app.base, &token, &wo, 4 * 1024 * 1024).await;
    let idle = rss();

    // Ten clients, each with a part header that never ends and up to 1 GiB
    // of junk behind it.
    let attackers: Vec<_> = (0..10)
        .map(|_| {
            let (base, token, wo) = (app.base.clone(), token.clone(), wo.clone());
            tokio::spawn(async move { endless_header(&base, &token, &wo, 1 << 30).await })
        })
        .collect();
    let started = Instant::now();
    let mut answered = 0;
    let mut peak = idle;
    while attackers.iter().any(|a| !a.is_finished()) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the attackers are still being read after 120 s"
        );
        let (s, b) = app.get("/api/v1/clients", &neighbour).await;
        assert_eq!(s, 200, "a neighbour's request during the attack: {b}");
        answered += 1;
        peak = peak.max(rss());
        assert!(
            peak < idle + 64 * 1024 * 1024,
            "RSS grew from {} MiB to {} MiB during the attack",
            idle >> 20,
            peak >> 20
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for a in attackers {
        let sent = a.await.unwrap();
        assert!(
            sent < 64 * 1024 * 1024,
            "the server read {sent} bytes of one endless header"
        );
    }
    peak = peak.max(rss());
    assert!(answered > 0);
    assert!(
        peak < idle + 64 * 1024 * 1024,
        "RSS grew from {} MiB to {} MiB",
        idle >> 20,
        peak >> 20
    );
    app.stop().await;
}
