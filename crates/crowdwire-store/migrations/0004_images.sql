-- Images uploaded as data URLs (world pictures), kept apart from the rows that name them so
-- listings carry a short URL, never the bytes. Content-addressed: the id is the SHA-256 of
-- the bytes, so the same picture is stored once.
CREATE TABLE images (
    image_id     VARCHAR(64)  PRIMARY KEY,
    content_type VARCHAR(32)  NOT NULL,
    bytes        {blob} NOT NULL,
    created      BIGINT       NOT NULL
);
