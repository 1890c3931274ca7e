//! The HTTP listeners: accept TCP connections and serve each with hyper (HTTP/1.1, WebSocket
//! upgrades included), within the bounds a server facing the internet needs (security
//! review F6):
//!
//! - a client must send a request's headers within [`ListenerSettings::header_read_timeout`]
//!   of connecting, or of the previous response on a kept-alive connection, so the same
//!   bound also closes keep-alive connections left idle;
//! - one client address holds at most [`ListenerSettings::max_per_ip`] connections at once,
//!   WebSockets included: the socket itself holds its place in the count, through the
//!   upgrade until the WebSocket closes. An IPv6 client is counted by its /64, which one
//!   subscriber usually holds whole. A connection over the cap is answered 429 and closed.
//!
//! On stop a listener accepts no more connections, lets each connection finish its in-flight
//! request, and returns when all have closed (as `axum::serve` did; WebSockets are not
//! waited for: the hub hands its worlds over and closes them first).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::{Service, ServiceExt as _};

/// Default of [`ListenerSettings::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Default of [`ListenerSettings::max_per_ip`]: well above what a classroom or a venue behind
/// one NAT address opens (a browser in a world holds one WebSocket and a few HTTP
/// connections), far below what exhausts the server's file descriptors.
pub const DEFAULT_MAX_PER_IP: usize = 512;

/// Counted when a connection over the per-address cap is refused.
pub const REFUSED_METRIC: &str = "crowdwire_http_connections_refused_total";

/// Counted when a connection is closed because its request headers did not arrive in time.
pub const HEADER_TIMEOUT_METRIC: &str = "crowdwire_http_header_timeouts_total";

/// Bounds of a listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerSettings {
    /// Longest a client may take to send a request's headers, counted from the connection's
    /// start or from the previous response.
    pub header_read_timeout: Duration,
    /// Connections one client address may hold open at once; `None`: no cap.
    pub max_per_ip: Option<usize>,
}

impl Default for ListenerSettings {
    fn default() -> ListenerSettings {
        ListenerSettings {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_per_ip: Some(DEFAULT_MAX_PER_IP),
        }
    }
}

/// Serves `service` on `listener` until `stop` turns true (or its sender is dropped), then
/// drains: see the module's documentation. Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve<S>(mut listener: TcpListener, service: S, settings: ListenerSettings, stop: watch::Receiver<bool>)
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout);
    let counts = settings.max_per_ip.map(OpenPerClient::new);
    // Every connection's task holds a receiver: when all are gone, the drain is over.
    let (drained, open) = watch::channel(());
    let mut stopping = stop.clone();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = stopped(&mut stopping) => break,
        };
        let place = match &counts {
            None => None,
            Some(counts) => match counts.admit(peer.ip()) {
                Some(place) => Some(place),
                None => {
                    refuse(stream, peer);
                    continue;
                }
            },
        };
        // Realtime frames are small and latency-bound: no Nagle delay on any socket.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let io = TokioIo::new(Counted { stream, _place: place });
        let service = service.clone();
        let handler = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            service.clone().oneshot(req)
        });
        let connection = http.serve_connection(io, handler).with_upgrades();
        let mut stop = stop.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let mut connection = pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = stopped(&mut stop) => {
                    // Finishes the request in flight (if any), then closes.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                if e.is_timeout() {
                    metrics::counter!(HEADER_TIMEOUT_METRIC).increment(1);
                }
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(open);
        });
    }
    drop(listener);
    drop(open);
    drained.closed().await;
}

/// Returns once `stop` turns true, or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Answers a connection over the cap with 429 and closes it. Best effort and without waiting:
/// the response is written only if the socket takes it at once, and a client that already
/// sent its request may see the connection reset instead.
fn refuse(stream: TcpStream, peer: SocketAddr) {
    const BODY: &str = r#"{"detail":"Too many open connections from your address."}"#;
    metrics::counter!(REFUSED_METRIC, "reason" => "per_ip_cap").increment(1);
    tracing::debug!(%peer, "connection refused: too many open from this address");
    let response = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(response.as_bytes());
}

/// Open connections per client address, shared by a listener and its connections.
struct OpenPerClient {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl OpenPerClient {
    fn new(limit: usize) -> Arc<OpenPerClient> {
        Arc::new(OpenPerClient {
            limit,
            open: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for one more connection from `ip`, unless its client holds `limit` already.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Place> {
        let client = client_of(ip);
        let mut open = self.lock();
        let count = open.entry(client).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Place {
            counts: self.clone(),
            client,
        })
    }
}

/// The address connections are counted by: an IPv4 address (also when mapped into IPv6), or
/// the /64 of an IPv6 address.
fn client_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
    }
}

/// One connection's place in [`OpenPerClient`], given back when dropped.
struct Place {
    counts: Arc<OpenPerClient>,
    client: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut open = self.counts.lock();
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// A connection's socket with its place in the count. hyper hands the socket to the WebSocket
/// on upgrade, so the place goes with it and is given back when the WebSocket closes.
struct Counted {
    stream: TcpStream,
    _place: Option<Place>,
}

impl AsyncRead for Counted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_client_and_given_back() {
        let counts = OpenPerClient::new(2);
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let first = counts.admit(a).expect("first");
        let _second = counts.admit(a).expect("second");
        assert!(counts.admit(a).is_none(), "a third is over the cap");
        assert!(
            counts.admit("203.0.113.8".parse().unwrap()).is_some(),
            "another address has its own"
        );
        drop(first);
        assert!(counts.admit(a).is_some(), "a closed connection gives its place back");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_of(one), client_of(same_64));
        assert_ne!(client_of(one), client_of(other_64));
        let mapped: IpAddr = "::ffff:198.51.100.4".parse().unwrap();
        assert_eq!(client_of(mapped), "198.51.100.4".parse::<IpAddr>().unwrap());
    }
}
