//! The `world_blocks` table: who may not enter a world until when. Guests are banned here
//! (they have no membership to carry the ban), and anyone kicked waits out a cooldown here.

use crate::{Db, Result, Timestamp, on_db};

/// Why someone is kept out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// Banned (guests).
    Ban,
    /// Kicked a moment ago.
    Kick,
}

impl BlockKind {
    fn code(self) -> i16 {
        match self {
            BlockKind::Ban => 1,
            BlockKind::Kick => 2,
        }
    }
}

/// A live block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Why.
    pub kind: BlockKind,
    /// Until when (µs).
    pub until: i64,
}

impl Db {
    /// Keeps `subject` (a user id or a guest UUID, as on the wire) out of a world for
    /// `micros`. A longer block already in place stays; a ban replaces a kick's cooldown.
    pub async fn block(&self, world_id: i64, subject: &str, kind: BlockKind, micros: i64) -> Result<()> {
        let now = Timestamp::now().0;
        on_db!(self, p => sqlx::query("DELETE FROM world_blocks WHERE until <= $1").bind(now).execute(p).await.map(|r| r.rows_affected()))?;
        let until = now.saturating_add(micros);
        let sql = "INSERT INTO world_blocks (world_id, subject, kind, until) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (world_id, subject) DO UPDATE SET \
                   kind = CASE WHEN excluded.kind = 1 THEN 1 ELSE world_blocks.kind END, \
                   until = CASE WHEN excluded.until > world_blocks.until THEN excluded.until ELSE world_blocks.until END";
        on_db!(self, p => sqlx::query(sql).bind(world_id).bind(subject).bind(kind.code()).bind(until)
            .execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Lifts a block of either kind.
    pub async fn unblock(&self, world_id: i64, subject: &str) -> Result<()> {
        on_db!(self, p => sqlx::query("DELETE FROM world_blocks WHERE world_id = $1 AND subject = $2")
            .bind(world_id).bind(subject).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The block keeping `subject` out of a world now, if any.
    pub async fn blocked(&self, world_id: i64, subject: &str) -> Result<Option<Block>> {
        let row: Option<(i16, i64)> = on_db!(self, p => sqlx::query_as(
            "SELECT kind, until FROM world_blocks WHERE world_id = $1 AND subject = $2 AND until > $3")
            .bind(world_id).bind(subject).bind(Timestamp::now().0).fetch_optional(p).await)?;
        Ok(row.map(|(kind, until)| Block {
            kind: if kind == 1 { BlockKind::Ban } else { BlockKind::Kick },
            until,
        }))
    }
}
