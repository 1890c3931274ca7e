//! The replica bus on RabbitMQ.
//!
//! Topology (declared by every replica, idempotently):
//!
//! | name | kind | use |
//! |---|---|---|
//! | `crowdwire.replicas` | direct exchange | envelopes for one replica; routing key = replica id |
//! | `crowdwire.broadcast` | fanout exchange | the few truly global messages (an account banned everywhere) |
//! | `crowdwire.replica.{id}` | exclusive, auto-delete queue | bound to both, with the replica's id as key: a replica receives only what concerns its own sockets and worlds |
//!
//! Messages are transient and consumed without acknowledgement: they are live frames, worth
//! nothing once late, and every loss has its own recovery (a session whose owner cannot be
//! reached is told to reconnect). A replica's queue disappears with its connection, so nothing
//! piles up for a dead replica; messages routed to it are dropped by the broker.
//!
//! One task owns the connection. It publishes what [`ReplicaBus::send`] queued (bounded: past
//! the bound, and while the broker is away, messages are dropped and counted) and feeds what
//! arrives to the hub. When the connection fails it reconnects with back-off and declares the
//! topology again.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::mpsc;

use crowdwire_realtime::bus::ReplicaBus;
use crowdwire_realtime::wire::{Body, Envelope};

/// The exchange for envelopes to one replica.
pub const DIRECT_EXCHANGE: &str = "crowdwire.replicas";
/// The exchange for envelopes to every replica.
pub const FANOUT_EXCHANGE: &str = "crowdwire.broadcast";
/// Envelopes waiting for the broker beyond this are dropped.
const OUTGOING_BOUND: usize = 65_536;

enum Outgoing {
    To(String, Vec<u8>),
    All(Vec<u8>),
}

/// The RabbitMQ bus of one replica.
pub struct AmqpBus {
    replica: String,
    out: mpsc::Sender<Outgoing>,
    inbox: Mutex<Option<mpsc::UnboundedReceiver<Envelope>>>,
    up: Arc<AtomicBool>,
}

impl AmqpBus {
    /// Connects as `replica` (failing if the broker cannot be reached within a few seconds),
    /// then keeps the connection up in the background.
    pub async fn connect(url: &str, replica: &str) -> Result<AmqpBus, String> {
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, out_rx) = mpsc::channel(OUTGOING_BOUND);
        let up = Arc::new(AtomicBool::new(false));
        let first = tokio::time::timeout(Duration::from_secs(10), Session::open(url, replica, in_tx.clone()))
            .await
            .map_err(|_| format!("RabbitMQ at {} did not answer within 10 s", redact(url)))?
            .map_err(|e| format!("cannot reach RabbitMQ at {}: {e}", redact(url)))?;
        up.store(true, Ordering::Relaxed);
        metrics::gauge!("crowdwire_amqp_up").set(1.0);
        tokio::spawn(supervise(
            url.to_owned(),
            replica.to_owned(),
            first,
            in_tx,
            out_rx,
            up.clone(),
        ));
        Ok(AmqpBus {
            replica: replica.to_owned(),
            out: out_tx,
            inbox: Mutex::new(Some(in_rx)),
            up,
        })
    }

    fn queue(&self, o: Outgoing) {
        if !self.up.load(Ordering::Relaxed) || self.out.try_send(o).is_err() {
            metrics::counter!("crowdwire_bus_dropped_total").increment(1);
        }
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

impl ReplicaBus for AmqpBus {
    fn replica(&self) -> &str {
        &self.replica
    }

    fn send(&self, to: &str, body: Body) {
        let bytes = Envelope::new(&self.replica, body).to_bytes();
        self.queue(Outgoing::To(to.to_owned(), bytes));
    }

    fn broadcast(&self, body: Body) {
        let bytes = Envelope::new(&self.replica, body).to_bytes();
        self.queue(Outgoing::All(bytes));
    }

    fn subscribe(&self) -> mpsc::UnboundedReceiver<Envelope> {
        crowdwire_realtime::bus::take_inbox(&self.inbox)
    }

    fn healthy(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn backend(&self) -> &'static str {
        "rabbitmq"
    }
}

/// One live connection: a channel to publish on and a consumer task.
struct Session {
    conn: Connection,
    channel: lapin::Channel,
    consumer: tokio::task::JoinHandle<()>,
}

impl Session {
    async fn open(url: &str, replica: &str, inbox: mpsc::UnboundedSender<Envelope>) -> lapin::Result<Session> {
        let props = ConnectionProperties::default().with_connection_name(format!("crowdwire {replica}").into());
        let conn = Connection::connect(url, props).await?;
        let channel = conn.create_channel().await?;
        let transient = ExchangeDeclareOptions {
            durable: false,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                DIRECT_EXCHANGE.into(),
                ExchangeKind::Direct,
                transient,
                FieldTable::default(),
            )
            .await?;
        channel
            .exchange_declare(
                FANOUT_EXCHANGE.into(),
                ExchangeKind::Fanout,
                transient,
                FieldTable::default(),
            )
            .await?;
        let queue = format!("crowdwire.replica.{replica}");
        let own = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(queue.as_str().into(), own, FieldTable::default())
            .await?;
        for exchange in [DIRECT_EXCHANGE, FANOUT_EXCHANGE] {
            channel
                .queue_bind(
                    queue.as_str().into(),
                    exchange.into(),
                    replica.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        let consume = conn.create_channel().await?;
        let mut consumer = consume
            .basic_consume(
                queue.as_str().into(),
                format!("crowdwire-{replica}").into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let consumer = tokio::spawn(async move {
            let _keep = consume;
            while let Some(delivery) = consumer.next().await {
                let Ok(delivery) = delivery else { break };
                match Envelope::from_bytes(&delivery.data) {
                    Ok(e) => {
                        if inbox.send(e).is_err() {
                            break;
                        }
                    }
                    Err(why) => {
                        metrics::counter!("crowdwire_bus_rejected_total").increment(1);
                        tracing::warn!(%why, "bus message dropped");
                    }
                }
            }
        });
        Ok(Session {
            conn,
            channel,
            consumer,
        })
    }

    async fn publish(&self, o: &Outgoing) -> lapin::Result<()> {
        let (exchange, key, bytes) = match o {
            Outgoing::To(to, b) => (DIRECT_EXCHANGE, to.as_str(), b),
            Outgoing::All(b) => (FANOUT_EXCHANGE, "", b),
        };
        // The confirm is not awaited: these are live frames, not records.
        self.channel
            .basic_publish(
                exchange.into(),
                key.into(),
                BasicPublishOptions::default(),
                bytes,
                BasicProperties::default(),
            )
            .await
            .map(|_| ())
    }

    fn alive(&self) -> bool {
        self.conn.status().connected() && !self.consumer.is_finished()
    }
}

async fn supervise(
    url: String,
    replica: String,
    first: Session,
    inbox: mpsc::UnboundedSender<Envelope>,
    mut out: mpsc::Receiver<Outgoing>,
    up: Arc<AtomicBool>,
) {
    let mut session = Some(first);
    let mut backoff = Duration::from_millis(200);
    loop {
        if let Some(s) = &session {
            // Publish until the connection fails; check it at least twice a second.
            let failed = loop {
                match tokio::time::timeout(Duration::from_millis(500), out.recv()).await {
                    Ok(None) => return,
                    Ok(Some(o)) => {
                        if let Err(e) = s.publish(&o).await {
                            metrics::counter!("crowdwire_bus_dropped_total").increment(1);
                            break e.to_string();
                        }
                    }
                    Err(_) => {}
                }
                if !s.alive() {
                    break "connection closed".to_owned();
                }
            };
            up.store(false, Ordering::Relaxed);
            metrics::gauge!("crowdwire_amqp_up").set(0.0);
            tracing::warn!(error = %failed, "RabbitMQ connection lost: sockets of worlds on other replicas reconnect");
            if let Some(s) = session.take() {
                s.consumer.abort();
                let _ = s.conn.close(200, "reconnecting".into()).await;
            }
        }
        // Away: what is queued meanwhile is dropped (stale by the time it could go).
        while out.try_recv().is_ok() {
            metrics::counter!("crowdwire_bus_dropped_total").increment(1);
        }
        tokio::time::sleep(backoff).await;
        match Session::open(&url, &replica, inbox.clone()).await {
            Ok(s) => {
                tracing::info!("RabbitMQ reachable again");
                session = Some(s);
                backoff = Duration::from_millis(200);
                while out.try_recv().is_ok() {}
                up.store(true, Ordering::Relaxed);
                metrics::gauge!("crowdwire_amqp_up").set(1.0);
            }
            Err(e) => {
                tracing::debug!(error = %e, "RabbitMQ still unreachable");
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_left_out_of_messages() {
        assert_eq!(redact("amqp://guest:secret@mq:5672/%2f"), "amqp://…@mq:5672/%2f");
        assert_eq!(redact("amqp://mq:5672"), "amqp://mq:5672");
    }
}
