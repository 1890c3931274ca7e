//! The `images` table: pictures uploaded as data URLs, addressed by the SHA-256 of their bytes.

use crate::{Db, Result, Timestamp, on_db};

/// A stored image.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Image {
    /// MIME type (`image/png`, …).
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Db {
    /// Stores an image under `id` (the hex SHA-256 of `bytes`); storing it again is a no-op.
    pub async fn put_image(&self, id: &str, content_type: &str, bytes: &[u8]) -> Result<()> {
        let sql = "INSERT INTO images (image_id, content_type, bytes, created) VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (image_id) DO NOTHING";
        on_db!(self, p => sqlx::query(sql).bind(id).bind(content_type).bind(bytes).bind(Timestamp::now().0)
            .execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The image with this id.
    pub async fn image(&self, id: &str) -> Result<Option<Image>> {
        let sql = "SELECT content_type, bytes FROM images WHERE image_id = $1";
        Ok(on_db!(self, p => sqlx::query_as(sql).bind(id).fetch_optional(p).await)?)
    }

    /// Deletes the image `id` unless some world's picture still names it.
    pub async fn delete_image_if_unused(&self, id: &str) -> Result<()> {
        let sql = "DELETE FROM images WHERE image_id = $1 \
                   AND NOT EXISTS (SELECT 1 FROM worlds WHERE profile_image LIKE '%/images/' || $1)";
        on_db!(self, p => sqlx::query(sql).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Sets a world's picture (the moving of inline pictures; no other change).
    pub async fn set_world_picture(&self, world_id: i64, value: &str) -> Result<()> {
        on_db!(self, p => sqlx::query("UPDATE worlds SET profile_image = $1 WHERE world_id = $2")
            .bind(value).bind(world_id).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Worlds whose picture is still stored inline (a data URL or any other long value, from
    /// before pictures were kept apart): `(world_id, profile_image)`.
    pub async fn worlds_with_inline_pictures(&self) -> Result<Vec<(i64, String)>> {
        let sql = "SELECT world_id, profile_image FROM worlds \
                   WHERE profile_image LIKE 'data:%' OR length(profile_image) > 2048";
        Ok(on_db!(self, p => sqlx::query_as(sql).fetch_all(p).await)?)
    }
}
