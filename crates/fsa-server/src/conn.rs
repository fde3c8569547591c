//! The accept loop: what one client's connection may hold.
//!
//! `axum::serve` reads a request's header for as long as the client cares
//! to send it and accepts every connection, so a thousand clients that send
//! a byte now and then hold a thousand connections for ever. Here:
//!
//! - **Header timeout.** A connection that has not sent a whole request
//!   header within `server.header_timeout` of being accepted is closed,
//!   whatever the protocol: hyper-util's HTTP/1-or-2 detection reads the
//!   first bytes with no timeout of its own, so the deadline is kept here,
//!   from accept to the first request. After that, on HTTP/1, hyper's
//!   `header_read_timeout` starts as soon as it waits for the next request's
//!   head, so it is also the idle timeout of a kept-alive connection. An
//!   HTTP/2 connection is pinged and closed when the pings go unanswered.
//! - **Connection cap.** At `server.max_connections` the loop stops
//!   accepting until a connection closes: new clients wait in the listen
//!   backlog and are served when a slot frees, rather than being reset at
//!   once. Held connections are bounded in time by the header timeout, so a
//!   normal client waits at most about that long, where closing it at once
//!   would fail it outright for as long as the flood lasts.
//! - **Graceful shutdown.** When `shutdown` completes the listener is
//!   closed, idle connections are closed, and the loop returns when the
//!   requests in flight have been answered (as `with_graceful_shutdown`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};

use fsa_app::config::HttpServer;

/// How often an HTTP/2 connection is pinged, and how long the answer may
/// take: a peer gone without a word is noticed within twice this.
const H2_PING: Duration = Duration::from_secs(20);

/// The limits [`serve`] applies to each connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    /// From the `[server]` section; a header timeout that is not a positive
    /// number of seconds (refused at start by `build_state`) is the default.
    pub fn from_config(c: &HttpServer) -> Self {
        let default = HttpServer::default();
        Limits {
            header_timeout: c
                .header_timeout()
                .unwrap_or(Duration::from_secs_f64(default.header_timeout)),
            max_connections: c.max_connections.max(1),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes and the requests
/// in flight then have been answered. Each request carries its peer's
/// address as `ConnectInfo<SocketAddr>` (login limits count per address).
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING)
        .keep_alive_timeout(H2_PING);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // The slot first: at the cap nothing more is accepted, so a flood
        // costs no file descriptors beyond the cap.
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let asked = Arc::new(Notify::new());
        let service = {
            let app = app.clone();
            let asked = asked.clone();
            tower::service_fn(move |mut req: Request<Incoming>| {
                asked.notify_one();
                req.extensions_mut().insert(ConnectInfo(peer));
                tower::Service::call(&mut app.clone(), req)
            })
        };
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let conn = graceful.watch(conn);
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                r = conn => if let Err(e) = r {
                    tracing::trace!(%peer, error = %e, "connection ended with an error");
                },
                () = first_request_overdue(&asked, header_timeout) => {
                    tracing::debug!(%peer, "no request within the header timeout: connection closed");
                }
            }
        });
    }
    // New clients are refused from here on, not left in the backlog.
    drop(listener);
    graceful.shutdown().await;
}

/// Completes when no request has come `timeout` after the connection was
/// accepted; never once one has.
async fn first_request_overdue(asked: &Notify, timeout: Duration) {
    if tokio::time::timeout(timeout, asked.notified())
        .await
        .is_ok()
    {
        std::future::pending::<()>().await;
    }
}

/// A client that went away before its connection was accepted is nothing;
/// anything else (out of file descriptors, most likely) is logged and the
/// loop pauses, rather than spinning, until connections have closed.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
