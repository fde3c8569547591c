//! What one client's connection may hold: a header timeout for slow
//! clients, a cap on connections, and secrets too short to start with.

use std::time::{Duration, Instant};

use fsa_testkit::{Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Slow clients held at once; each is two descriptors in this process.
const SLOW_CLIENTS: usize = 1000;
/// How often a slow client sends its next byte.
const DRIP: Duration = Duration::from_millis(400);

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Sends `script` a byte at a time, every [`DRIP`], until the server closes
/// the connection; returns how long after connecting that was, or `None`
/// when it is still open at `give_up`.
async fn drip(mut s: TcpStream, script: &'static [u8], give_up: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    let mut next = script.iter().cycle();
    while start.elapsed() < give_up {
        if !script.is_empty() {
            let b = next.next().copied().unwrap_or(b'x');
            if s.write_all(&[b]).await.is_err() {
                return Some(start.elapsed());
            }
        }
        match tokio::time::timeout(DRIP, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            // An error response before the close is fine; the close is awaited.
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    None
}

/// Reads until the server closes the connection or `give_up`; true when
/// it closed.
async fn closed_within(s: &mut TcpStream, give_up: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + give_up;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// A whole request on a raw connection, kept alive; returns once the
/// response's head and (empty-chunk-free) body have arrived.
async fn one_request(s: &mut TcpStream) {
    s.write_all(b"GET /health HTTP/1.1\r\nHost: fsa\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
            .await
            .expect("a response in time")
            .expect("read");
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_connections_are_closed_within_the_header_timeout() {
    let timeout = Duration::from_secs(2);
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.server.header_timeout = timeout.as_secs_f64();
    })
    .await
    .unwrap();
    // Slack for a loaded machine: the close is due at the timeout.
    let give_up = timeout + Duration::from_secs(6);
    // A request line that never ends, the HTTP/2 preface (read before
    // hyper knows the protocol), and nothing at all.
    let scripts: [&'static [u8]; 3] = [
        b"GET /health HTTP/1.1\r\nHost: fsa\r\nX-Slow: ",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"",
    ];
    // Connected one after another: a thousand at once overflow the listen
    // backlog, and a silent client whose handshake the kernel dropped is
    // not yet a connection the server could time (it becomes one when the
    // SYN-ACK is retried, seconds later).
    let mut slow = Vec::with_capacity(SLOW_CLIENTS);
    for i in 0..SLOW_CLIENTS {
        let s = TcpStream::connect(addr(&app)).await.unwrap();
        slow.push(tokio::spawn(drip(s, scripts[i % 3], give_up)));
    }

    // Meanwhile a normal client is served, and a kept-alive connection
    // idle after its request is closed like a slow one.
    let client = reqwest::Client::new();
    let res = client
        .get(format!("{}/health", app.base))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut idle = TcpStream::connect(addr(&app)).await.unwrap();
    one_request(&mut idle).await;
    let idle_since = Instant::now();
    assert!(
        closed_within(&mut idle, give_up).await,
        "an idle kept-alive connection stays open"
    );
    assert!(idle_since.elapsed() >= timeout - Duration::from_millis(200));

    let mut latest = Duration::ZERO;
    let mut open = Vec::new();
    for (i, t) in slow.into_iter().enumerate() {
        match t.await.unwrap() {
            Some(after) => latest = latest.max(after),
            None => open.push(i),
        }
    }
    assert!(
        open.is_empty(),
        "slow clients still open after {give_up:?}: {open:?}"
    );
    assert!(latest <= give_up, "{latest:?}");
    // Served again once they are gone.
    let res = client
        .get(format!("{}/health", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn clients_over_the_cap_wait_and_are_served_once_connections_go() {
    let cap = 20;
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.server.max_connections = cap;
        c.server.header_timeout = 60.0;
    })
    .await
    .unwrap();
    // Each holder is served once (so it holds a slot), then idles.
    let mut holders = Vec::new();
    for _ in 0..cap {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        one_request(&mut s).await;
        holders.push(s);
    }
    let base = app.base.clone();
    let waiting = tokio::spawn(async move {
        reqwest::Client::new()
            .get(format!("{base}/health"))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map(|r| r.status())
    });
    // Not served while every slot is held: the accept loop waits.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "a connection over the cap was served"
    );
    drop(holders);
    let status = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once the holders went")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_short_secret_stops_the_start() {
    let short = "8chars!!".to_owned();
    let e = TestApp::start_with(Backend::Sqlite, |c| {
        c.jwt_secret = Some(short.clone().into())
    })
    .await
    .err()
    .expect("a short JWT secret is refused");
    let e = format!("{e:#}");
    assert!(
        e.contains("FSA_JWT_SECRET") && e.contains("minimum is 32 bytes"),
        "{e}"
    );

    let e = TestApp::start_with(Backend::Sqlite, |c| {
        c.admin_token = Some(short.clone().into())
    })
    .await
    .err()
    .expect("a short admin token is refused");
    let e = format!("{e:#}");
    assert!(
        e.contains("FSA_ADMIN_TOKEN") && e.contains("minimum is 32 characters"),
        "{e}"
    );

    // 32 characters of two bytes each are 64 bytes: a token counts in
    // characters, a secret in bytes.
    let e = TestApp::start_with(Backend::Sqlite, |c| {
        c.admin_token = Some("é".repeat(31).into())
    })
    .await
    .err()
    .expect("31 characters are refused, whatever their bytes");
    assert!(format!("{e:#}").contains("is 31 characters"), "{e:#}");
    let app = TestApp::start_with(Backend::Sqlite, |c| {
        c.admin_token = Some("é".repeat(32).into());
        c.jwt_secret = Some("x".repeat(32).into());
    })
    .await
    .unwrap();
    app.stop().await;
}
