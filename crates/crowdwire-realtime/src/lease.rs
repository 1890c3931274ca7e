//! World ownership: each world's engine runs on exactly one replica at a time, the holder of
//! the world's lease.
//!
//! A lease has a time to live and a fencing token that grows with every new holder. The owner
//! renews it well within the TTL; a replica that dies stops renewing, and after the TTL any
//! replica may claim the world. The token travels with the owner's output so a deposed owner's
//! late frames are recognised and dropped, and an owner that finds its lease taken stops its
//! engine at once. [`LocalLeases`] serves a single process, which owns every world; the Redis
//! implementation is in the `crowdwire-cluster` crate.

use async_trait::async_trait;

/// Who holds a world's lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The holding replica.
    pub replica: String,
    /// Its fencing token (larger for every new holder).
    pub fence: u64,
}

/// The lease store could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("lease store unavailable: {0}")]
pub struct LeaseError(pub String);

/// What a renewal found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Still ours, extended.
    Held,
    /// Our lease had lapsed (the store lost it, or we could not renew in time) and nobody
    /// took it: ours again, under this new token.
    Reclaimed(u64),
    /// Another replica holds it now.
    Lost,
}

/// The lease store.
#[async_trait]
pub trait Leases: Send + Sync + 'static {
    /// Takes `world` for `replica` if nobody holds it, and returns the holder (`replica`
    /// itself when it got or already had it).
    async fn claim(&self, world: i64, replica: &str) -> Result<Lease, LeaseError>;
    /// Extends the leases `replica` holds, one result per world, in order.
    async fn renew(&self, replica: &str, worlds: &[(i64, u64)]) -> Result<Vec<Renewal>, LeaseError>;
    /// Gives a world up (only if still held under `fence`).
    async fn release(&self, world: i64, replica: &str, fence: u64) -> Result<(), LeaseError>;
    /// Who holds `world` now.
    async fn holder(&self, world: i64) -> Result<Option<Lease>, LeaseError>;
    /// A number no other live replica uses: session ids are unique across replicas.
    async fn replica_number(&self) -> Result<u32, LeaseError>;
    /// `replica` is alive (called every quarter of the lease TTL, with or without worlds).
    async fn heartbeat(&self, replica: &str) -> Result<(), LeaseError> {
        let _ = replica;
        Ok(())
    }
    /// The replicas alive now (`None`: this store does not track them; take them all as alive).
    async fn live_replicas(&self) -> Result<Option<std::collections::HashSet<String>>, LeaseError> {
        Ok(None)
    }
    /// The store is reachable.
    fn healthy(&self) -> bool;
    /// Backend name for `/health`.
    fn backend(&self) -> &'static str;
}

/// One process owns every world.
#[derive(Default)]
pub struct LocalLeases;

#[async_trait]
impl Leases for LocalLeases {
    async fn claim(&self, _world: i64, replica: &str) -> Result<Lease, LeaseError> {
        Ok(Lease {
            replica: replica.to_owned(),
            fence: 1,
        })
    }

    async fn renew(&self, _replica: &str, worlds: &[(i64, u64)]) -> Result<Vec<Renewal>, LeaseError> {
        Ok(vec![Renewal::Held; worlds.len()])
    }

    async fn release(&self, _world: i64, _replica: &str, _fence: u64) -> Result<(), LeaseError> {
        Ok(())
    }

    async fn holder(&self, _world: i64) -> Result<Option<Lease>, LeaseError> {
        Ok(None)
    }

    async fn replica_number(&self) -> Result<u32, LeaseError> {
        Ok(0)
    }

    fn healthy(&self) -> bool {
        true
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
